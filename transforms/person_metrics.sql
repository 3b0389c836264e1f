-- Per person: counts and recency of actions, reachability, tags. $as_of: the run's time.
CREATE OR REPLACE TEMP TABLE _person_metrics AS
WITH acts AS (
    SELECT *, activity_type IN (
        'form_submission', 'petition_signature', 'event_rsvp', 'event_attended',
        'event_hosted', 'donation', 'volunteer_signup', 'outreach') AS is_action
    FROM activities
), per_person AS (
    SELECT
        person_id,
        arg_min(source, occurred_at) AS first_source,
        max(occurred_at) FILTER (WHERE is_action) AS last_action_at,
        count(*) FILTER (WHERE is_action) AS actions_total,
        count(*) FILTER (WHERE is_action AND occurred_at >= $as_of - INTERVAL 30 DAY) AS actions_30d,
        count(*) FILTER (WHERE is_action AND occurred_at >= $as_of - INTERVAL 90 DAY) AS actions_90d,
        count(*) FILTER (WHERE is_action AND occurred_at >= $as_of - INTERVAL 365 DAY) AS actions_365d,
        count(*) FILTER (WHERE activity_type = 'form_submission') AS form_submissions
    FROM acts
    GROUP BY person_id
)
SELECT
    p.person_id,
    p.given_name,
    p.family_name,
    p.email,
    p.phone,
    p.postal_code,
    p.region,
    p.first_seen,
    coalesce(a.first_source, p.sources[1]) AS first_source,
    a.last_action_at,
    coalesce(a.actions_total, 0) AS actions_total,
    coalesce(a.actions_30d, 0) AS actions_30d,
    coalesce(a.actions_90d, 0) AS actions_90d,
    coalesce(a.actions_365d, 0) AS actions_365d,
    coalesce(a.form_submissions, 0) AS form_submissions,
    date_diff('day', p.first_seen, $as_of) AS days_since_joined,
    p.email_reachable,
    p.phone_reachable,
    p.email_suppressed,
    p.phone_suppressed,
    p.platform_tags,
    $as_of AS as_of
FROM people p
LEFT JOIN per_person a USING (person_id);
