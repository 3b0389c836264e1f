-- FROZEN REFERENCE (issue 13): transforms/person_metrics.sql as it was before person_metrics
-- was generated from transforms/metrics.py. tests/transforms/test_metrics_declared.py checks
-- the generated table against it; do not edit, and do not update it to match new metrics.
-- Per person: counts and recency by activity type, recruits, reachability. $as_of: the
-- run's time. A window of N days holds what happened at or after $as_of - N days (later
-- dates count too: a platform's clock may run ahead, and hosted events lie ahead).
--
-- An action is one record of a person doing something: a petition signature, an RSVP or
-- attendance, hosting an event, a form submission or volunteer sign-up, a donation, an
-- outreach, or a referred action. A record that says several things (an attendance
-- marked attended is an RSVP and an attendance; a form row that signs up to volunteer;
-- an action someone referred) is one action, dated by the latest of them. Email opens,
-- clicks, bounces, unsubscribes, tags and joining are not actions.
CREATE OR REPLACE TEMP TABLE _person_metrics AS
WITH acts AS (
    SELECT
        *,
        activity_type IN ('petition_signature', 'event_rsvp', 'event_attended', 'event_hosted',
                          'form_submission', 'volunteer_signup', 'donation', 'outreach',
                          'referral') AS is_action,
        occurred_at >= $as_of - INTERVAL 30 DAY AS d30,
        occurred_at >= $as_of - INTERVAL 90 DAY AS d90,
        occurred_at >= $as_of - INTERVAL 180 DAY AS d180,
        occurred_at >= $as_of - INTERVAL 365 DAY AS d365
    FROM activities
), action_records AS (
    SELECT person_id, source, source_record_id, max(occurred_at) AS occurred_at
    FROM acts
    WHERE is_action
    GROUP BY ALL
), actions AS (
    SELECT
        person_id,
        min(occurred_at) AS first_action_at,
        max(occurred_at) AS last_action_at,
        count(*) AS actions_total,
        count(*) FILTER (WHERE occurred_at >= $as_of - INTERVAL 30 DAY) AS actions_30d,
        count(*) FILTER (WHERE occurred_at >= $as_of - INTERVAL 90 DAY) AS actions_90d,
        count(*) FILTER (WHERE occurred_at >= $as_of - INTERVAL 180 DAY) AS actions_180d,
        count(*) FILTER (WHERE occurred_at >= $as_of - INTERVAL 365 DAY) AS actions_365d
    FROM action_records
    GROUP BY person_id
), per_type AS (
    -- One row per person and activity type first: the pivot below then reads few rows.
    SELECT
        person_id,
        activity_type,
        activity_type = 'joined' OR bool_or(is_action) AS counts_as_arrival,
        count(*) FILTER (WHERE d30) AS n_30d,
        count(*) FILTER (WHERE d90) AS n_90d,
        count(*) FILTER (WHERE d180) AS n_180d,
        count(*) FILTER (WHERE d365) AS n_365d,
        count(*) AS n_total,
        min(occurred_at) AS first_at,
        max(occurred_at) AS last_at,
        arg_min(source, (occurred_at, source)) AS first_source,
        sum(amount) FILTER (WHERE d365) AS amount_365d,
        sum(amount) AS amount_total,
        bool_or(recurring) FILTER (WHERE d365) AS recurring_365d,
        arg_min(referred_by_person_id, (occurred_at, referred_by_person_id)) AS first_referrer
    FROM acts
    GROUP BY person_id, activity_type
), campaigns_opened AS (
    SELECT person_id, count(DISTINCT object_id) AS campaigns_opened_90d
    FROM activities
    WHERE activity_type = 'email_open' AND occurred_at >= $as_of - INTERVAL 90 DAY
    GROUP BY person_id
), by_type AS (
    SELECT
        person_id,
        -- Where they came from: the source of their first record of joining or acting.
        arg_min(first_source, (first_at, first_source)) FILTER (WHERE counts_as_arrival) AS first_source,
        max(n_total) FILTER (WHERE activity_type = 'form_submission') AS form_submissions,

        max(n_30d) FILTER (WHERE activity_type = 'petition_signature') AS petitions_30d,
        max(n_90d) FILTER (WHERE activity_type = 'petition_signature') AS petitions_90d,
        max(n_180d) FILTER (WHERE activity_type = 'petition_signature') AS petitions_180d,
        max(n_365d) FILTER (WHERE activity_type = 'petition_signature') AS petitions_365d,
        max(n_total) FILTER (WHERE activity_type = 'petition_signature') AS petitions_total,
        max(last_at) FILTER (WHERE activity_type = 'petition_signature') AS last_petition_at,

        max(n_30d) FILTER (WHERE activity_type = 'event_rsvp') AS events_rsvped_30d,
        max(n_90d) FILTER (WHERE activity_type = 'event_rsvp') AS events_rsvped_90d,
        max(n_180d) FILTER (WHERE activity_type = 'event_rsvp') AS events_rsvped_180d,
        max(n_365d) FILTER (WHERE activity_type = 'event_rsvp') AS events_rsvped_365d,
        max(n_total) FILTER (WHERE activity_type = 'event_rsvp') AS events_rsvped_total,
        max(last_at) FILTER (WHERE activity_type = 'event_rsvp') AS last_rsvp_at,

        max(n_30d) FILTER (WHERE activity_type = 'event_attended') AS events_attended_30d,
        max(n_90d) FILTER (WHERE activity_type = 'event_attended') AS events_attended_90d,
        max(n_180d) FILTER (WHERE activity_type = 'event_attended') AS events_attended_180d,
        max(n_365d) FILTER (WHERE activity_type = 'event_attended') AS events_attended_365d,
        max(n_total) FILTER (WHERE activity_type = 'event_attended') AS events_attended_total,
        max(last_at) FILTER (WHERE activity_type = 'event_attended') AS last_attended_at,

        max(n_30d) FILTER (WHERE activity_type = 'event_hosted') AS events_hosted_30d,
        max(n_90d) FILTER (WHERE activity_type = 'event_hosted') AS events_hosted_90d,
        max(n_180d) FILTER (WHERE activity_type = 'event_hosted') AS events_hosted_180d,
        max(n_365d) FILTER (WHERE activity_type = 'event_hosted') AS events_hosted_365d,
        max(n_total) FILTER (WHERE activity_type = 'event_hosted') AS events_hosted_total,
        max(last_at) FILTER (WHERE activity_type = 'event_hosted') AS last_hosted_at,

        max(n_30d) FILTER (WHERE activity_type = 'form_submission') AS forms_30d,
        max(n_90d) FILTER (WHERE activity_type = 'form_submission') AS forms_90d,
        max(n_180d) FILTER (WHERE activity_type = 'form_submission') AS forms_180d,
        max(n_365d) FILTER (WHERE activity_type = 'form_submission') AS forms_365d,
        max(n_total) FILTER (WHERE activity_type = 'form_submission') AS forms_total,
        max(last_at) FILTER (WHERE activity_type = 'form_submission') AS last_form_at,

        max(n_30d) FILTER (WHERE activity_type = 'volunteer_signup') AS volunteer_signups_30d,
        max(n_90d) FILTER (WHERE activity_type = 'volunteer_signup') AS volunteer_signups_90d,
        max(n_180d) FILTER (WHERE activity_type = 'volunteer_signup') AS volunteer_signups_180d,
        max(n_365d) FILTER (WHERE activity_type = 'volunteer_signup') AS volunteer_signups_365d,
        max(n_total) FILTER (WHERE activity_type = 'volunteer_signup') AS volunteer_signups_total,
        max(last_at) FILTER (WHERE activity_type = 'volunteer_signup') AS last_volunteered_at,

        max(n_30d) FILTER (WHERE activity_type = 'donation') AS donations_30d,
        max(n_90d) FILTER (WHERE activity_type = 'donation') AS donations_90d,
        max(n_180d) FILTER (WHERE activity_type = 'donation') AS donations_180d,
        max(n_365d) FILTER (WHERE activity_type = 'donation') AS donations_365d,
        max(n_total) FILTER (WHERE activity_type = 'donation') AS donations_total,
        max(last_at) FILTER (WHERE activity_type = 'donation') AS last_donation_at,

        max(n_30d) FILTER (WHERE activity_type = 'outreach') AS outreaches_30d,
        max(n_90d) FILTER (WHERE activity_type = 'outreach') AS outreaches_90d,
        max(n_180d) FILTER (WHERE activity_type = 'outreach') AS outreaches_180d,
        max(n_365d) FILTER (WHERE activity_type = 'outreach') AS outreaches_365d,
        max(n_total) FILTER (WHERE activity_type = 'outreach') AS outreaches_total,
        max(last_at) FILTER (WHERE activity_type = 'outreach') AS last_outreach_at,

        max(amount_365d) FILTER (WHERE activity_type = 'donation') AS donated_amount_365d,
        max(amount_total) FILTER (WHERE activity_type = 'donation') AS donated_amount_total,
        max(recurring_365d) FILTER (WHERE activity_type = 'donation') AS recurring_donor,

        max(n_30d) FILTER (WHERE activity_type = 'email_open') AS email_opens_30d,
        max(n_90d) FILTER (WHERE activity_type = 'email_open') AS email_opens_90d,
        max(n_365d) FILTER (WHERE activity_type = 'email_open') AS email_opens_365d,
        max(n_30d) FILTER (WHERE activity_type = 'email_click') AS email_clicks_30d,
        max(n_90d) FILTER (WHERE activity_type = 'email_click') AS email_clicks_90d,
        max(n_365d) FILTER (WHERE activity_type = 'email_click') AS email_clicks_365d,
        max(n_365d) FILTER (WHERE activity_type = 'email_bounce') AS email_bounces_365d,
        max(last_at) FILTER (WHERE activity_type = 'email_open') AS last_open_at,
        max(last_at) FILTER (WHERE activity_type = 'email_click') AS last_click_at,
        max(last_at) FILTER (WHERE activity_type = 'unsubscribe') AS unsubscribed_at,
        max(first_referrer) FILTER (WHERE activity_type = 'referral') AS recruited_by
    FROM per_type
    GROUP BY person_id
), pairs AS (
    -- Who recruited whom, and when first.
    SELECT referred_by_person_id AS recruiter, person_id AS recruit,
           min(occurred_at) AS recruited_at
    FROM activities
    WHERE activity_type = 'referral' AND referred_by_person_id IS NOT NULL
      AND referred_by_person_id <> person_id
    GROUP BY ALL
), recruiting AS (
    -- A recruit acted when they took an action after the one they were recruited to.
    SELECT p.recruiter AS person_id,
           count(*) AS recruits,
           count(*) FILTER (WHERE p.recruited_at >= $as_of - INTERVAL 365 DAY) AS recruits_365d,
           count(*) FILTER (WHERE a.last_action_at > p.recruited_at) AS recruits_who_acted
    FROM pairs p
    LEFT JOIN actions a ON a.person_id = p.recruit
    GROUP BY p.recruiter
), second_degree AS (
    -- Recruits of recruits, other than the person and their own direct recruits.
    SELECT p1.recruiter AS person_id, count(DISTINCT p2.recruit) AS second_degree_reach
    FROM pairs p1
    JOIN pairs p2 ON p2.recruiter = p1.recruit AND p2.recruit <> p1.recruiter
    ANTI JOIN pairs d ON d.recruiter = p1.recruiter AND d.recruit = p2.recruit
    GROUP BY p1.recruiter
), address_read AS (
    -- The identity step's reading of each address line a person has (staging.sql): the
    -- house number and the street up to the first comma, any flat or unit part dropped,
    -- neither for the organisation's own address (a placeholder in identity.yaml).
    SELECT ps.person_id, s.address_line,
           max(s.street_number) AS street_number,
           max(s.street_name) AS street_name
    FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE s.address_line IS NOT NULL
    GROUP BY ALL
), address_parts AS (
    -- The person's own line (people's best one) with its reading, and what it says:
    -- a post-office box or private bag (mail only), a stand-in such as 'none' (nothing),
    -- and a place to deliver to (a postcode or a locality).
    SELECT p.person_id,
           r.street_name,
           r.street_number,
           coalesce(regexp_matches(r.street_name,
               '^((P ?O|POST OFFICE|GPO) BOX|BOX|POBOX|LOCKED BAG|PRIVATE BAG|POSTFACH|BP'
               || '|APARTADO|CASILLA|CAIXA POSTAL) ?[0-9]'), false) AS po_box,
           coalesce(regexp_matches(r.street_name, '\pL\pL')
               AND r.street_name NOT IN ('NONE', 'NA', 'NULL', 'NIL', 'UNKNOWN', 'TBC', 'TBA',
                                         'TEST', 'XXX', 'ASDF', 'NO ADDRESS', 'NOT GIVEN'),
               false) AS has_words,
           coalesce(regexp_matches(p.postal_code, '[\pL\pN]')
                    AND NOT contains(p.postal_code, '@'), false)
               OR coalesce(regexp_matches(p.locality, '\pL\pL'), false) AS has_place
    FROM people p
    JOIN address_read r ON r.person_id = p.person_id AND r.address_line = p.address_line
), addresses AS (
    -- post: a line to mail to (words, not a stand-in) and a postcode or locality.
    -- door: that, with a house number (leading, or trailing as in 'Hauptstrasse 5'),
    -- never a post-office box.
    SELECT person_id,
           street_name,
           CASE WHEN NOT po_box THEN coalesce(
               street_number, nullif(regexp_extract(street_name, ' ([0-9]+[A-Z]?)$', 1), ''))
           END AS house_number,
           has_words AND has_place AS post_reachable
    FROM address_parts
)
SELECT
    p.person_id,
    p.given_name,
    p.family_name,
    p.email,
    p.phone,
    p.postal_code,
    p.region,
    -- The address a canvass or mailing list needs; `street_name`/`street_number` as the
    -- identity step reads them (for walk order), `post_reachable`/`door_reachable` the
    -- address channels (see docs/ladder.md, "Address channels").
    p.address_line,
    p.locality,
    ad.street_name,
    ad.house_number AS street_number,
    coalesce(ad.post_reachable, false) AS post_reachable,
    coalesce(ad.post_reachable AND ad.house_number IS NOT NULL, false) AS door_reachable,
    p.first_seen,
    coalesce(t.first_source, p.sources[1]) AS first_source,
    a.first_action_at,
    a.last_action_at,
    date_diff('day', p.first_seen, $as_of) AS days_since_joined,
    date_diff('day', a.last_action_at, $as_of) AS days_since_last_action,
    coalesce(a.actions_total, 0) AS actions_total,
    coalesce(a.actions_30d, 0) AS actions_30d,
    coalesce(a.actions_90d, 0) AS actions_90d,
    coalesce(a.actions_180d, 0) AS actions_180d,
    coalesce(a.actions_365d, 0) AS actions_365d,
    coalesce(t.form_submissions, 0) AS form_submissions,
    coalesce(t.petitions_30d, 0) AS petitions_30d,
    coalesce(t.petitions_90d, 0) AS petitions_90d,
    coalesce(t.petitions_180d, 0) AS petitions_180d,
    coalesce(t.petitions_365d, 0) AS petitions_365d,
    coalesce(t.petitions_total, 0) AS petitions_total,
    t.last_petition_at,
    coalesce(t.events_rsvped_30d, 0) AS events_rsvped_30d,
    coalesce(t.events_rsvped_90d, 0) AS events_rsvped_90d,
    coalesce(t.events_rsvped_180d, 0) AS events_rsvped_180d,
    coalesce(t.events_rsvped_365d, 0) AS events_rsvped_365d,
    coalesce(t.events_rsvped_total, 0) AS events_rsvped_total,
    t.last_rsvp_at,
    coalesce(t.events_attended_30d, 0) AS events_attended_30d,
    coalesce(t.events_attended_90d, 0) AS events_attended_90d,
    coalesce(t.events_attended_180d, 0) AS events_attended_180d,
    coalesce(t.events_attended_365d, 0) AS events_attended_365d,
    coalesce(t.events_attended_total, 0) AS events_attended_total,
    t.last_attended_at,
    coalesce(t.events_hosted_30d, 0) AS events_hosted_30d,
    coalesce(t.events_hosted_90d, 0) AS events_hosted_90d,
    coalesce(t.events_hosted_180d, 0) AS events_hosted_180d,
    coalesce(t.events_hosted_365d, 0) AS events_hosted_365d,
    coalesce(t.events_hosted_total, 0) AS events_hosted_total,
    t.last_hosted_at,
    coalesce(t.events_hosted_total, 0) > 0 AS hosted_ever,
    coalesce(t.forms_30d, 0) AS forms_30d,
    coalesce(t.forms_90d, 0) AS forms_90d,
    coalesce(t.forms_180d, 0) AS forms_180d,
    coalesce(t.forms_365d, 0) AS forms_365d,
    coalesce(t.forms_total, 0) AS forms_total,
    t.last_form_at,
    coalesce(t.volunteer_signups_30d, 0) AS volunteer_signups_30d,
    coalesce(t.volunteer_signups_90d, 0) AS volunteer_signups_90d,
    coalesce(t.volunteer_signups_180d, 0) AS volunteer_signups_180d,
    coalesce(t.volunteer_signups_365d, 0) AS volunteer_signups_365d,
    coalesce(t.volunteer_signups_total, 0) AS volunteer_signups_total,
    t.last_volunteered_at,
    coalesce(t.volunteer_signups_total, 0) > 0 AS volunteered,
    coalesce(t.donations_30d, 0) AS donations_30d,
    coalesce(t.donations_90d, 0) AS donations_90d,
    coalesce(t.donations_180d, 0) AS donations_180d,
    coalesce(t.donations_365d, 0) AS donations_365d,
    coalesce(t.donations_total, 0) AS donations_total,
    t.last_donation_at,
    coalesce(t.donated_amount_365d, 0) AS donated_amount_365d,
    coalesce(t.donated_amount_total, 0) AS donated_amount_total,
    coalesce(t.recurring_donor, false) AS recurring_donor,
    coalesce(t.outreaches_30d, 0) AS outreaches_30d,
    coalesce(t.outreaches_90d, 0) AS outreaches_90d,
    coalesce(t.outreaches_180d, 0) AS outreaches_180d,
    coalesce(t.outreaches_365d, 0) AS outreaches_365d,
    coalesce(t.outreaches_total, 0) AS outreaches_total,
    t.last_outreach_at,
    coalesce(t.email_opens_30d, 0) AS email_opens_30d,
    coalesce(t.email_opens_90d, 0) AS email_opens_90d,
    coalesce(t.email_opens_365d, 0) AS email_opens_365d,
    coalesce(co.campaigns_opened_90d, 0) AS campaigns_opened_90d,
    coalesce(t.email_clicks_30d, 0) AS email_clicks_30d,
    coalesce(t.email_clicks_90d, 0) AS email_clicks_90d,
    coalesce(t.email_clicks_365d, 0) AS email_clicks_365d,
    coalesce(t.email_bounces_365d, 0) AS email_bounces_365d,
    t.last_open_at,
    t.last_click_at,
    t.unsubscribed_at,
    coalesce(r.recruits, 0) AS recruits,
    coalesce(r.recruits_365d, 0) AS recruits_365d,
    coalesce(r.recruits_who_acted, 0) AS recruits_who_acted,
    coalesce(s.second_degree_reach, 0) AS second_degree_reach,
    t.recruited_by,
    p.email_reachable,
    p.phone_reachable,
    p.email_suppressed,
    p.phone_suppressed,
    -- The channels consent allows: the latest answer across sources (people.sql).
    list_filter([CASE WHEN p.email_reachable THEN 'email' END,
                 CASE WHEN p.phone_reachable THEN 'phone' END], lambda c: c IS NOT NULL) AS channels,
    p.platform_tags,
    $as_of AS as_of
FROM people p
LEFT JOIN actions a USING (person_id)
LEFT JOIN by_type t USING (person_id)
LEFT JOIN recruiting r USING (person_id)
LEFT JOIN second_degree s USING (person_id)
LEFT JOIN campaigns_opened co USING (person_id)
LEFT JOIN addresses ad USING (person_id);
