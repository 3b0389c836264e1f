-- step: activities
-- reads: stage.an_objects, stage.an_actions, stage.mc_events, stage.platform_tags,
--     stage.form_rows, stage.referrals, stg_source_records, person_sources, says_yes(),
--     attended_answer(), referral_code()
-- writes: activities, stage.activity_stats
-- params: -
-- udfs: -

-- One row per thing a person did, from every source. Runs after activity_sources.sql and
-- referrals.sql. Types (see the README, "Activities"):
--   joined               a platform first knew them (Action Network created_date,
--                        Mailchimp signup); not an action
--   petition_signature   Action Network signature
--   event_rsvp           Action Network attendance not declined; a form row registering
--                        for an event (attendance column "Attending", "Registered")
--   event_attended       Action Network attendance marked attended / checked in; a form
--                        row checked in (sign-in sheets, Eventbrite "Checked In"); dated
--                        by the event's start when the event gives one
--   event_hosted         the organizer (else the creator) an Action Network event names,
--                        dated by the event's start, else its creation
--   form_submission      Action Network submission; every form export row
--   volunteer_signup     a form row whose volunteer question is answered with anything
--                        but a refusal
--   donation             Action Network donation: amount, recurring
--   outreach             Action Network advocacy outreach
--   email_open, email_click, email_bounce   Mailchimp email activity, one row per event
--   unsubscribe          email status unsubscribed (or spam complaint on Action Network),
--                        channel email; Action Network phone status unsubscribed, channel
--                        phone; a form's consent "no", per channel; dated by the record's
--                        last change (a form's by its submission)
--   tag_added            a platform tag outside Groundswell's namespace
--   referral             the person's action was referred by another (referred_by_person_id)
-- Actions (what person_metrics counts as one) also carry referred_by_person_id when referred.

CREATE OR REPLACE TEMP TABLE _activities_base AS
-- Joined: when a platform first knew them. Form rows are submissions instead.
SELECT ps.person_id, s.source, s.source_record_id, 'joined' AS activity_type,
       s.created_at AS occurred_at, NULL::VARCHAR AS object, NULL::VARCHAR AS object_id,
       CASE s.source WHEN 'mailchimp' THEN 'email' ELSE 'web' END AS channel,
       NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring, NULL::VARCHAR AS detail
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.source IN ('action_network', 'mailchimp')

UNION ALL
SELECT ps.person_id, s.source, s.source_record_id, 'unsubscribe', s.modified_at, NULL, NULL,
       'email', NULL, NULL, s.email_status
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.email_status = 'unsubscribed'
   OR (s.source = 'action_network' AND s.email_status = 'spam complaint')

UNION ALL
SELECT ps.person_id, s.source, s.source_record_id, 'unsubscribe', s.modified_at, NULL, NULL,
       'phone', NULL, NULL, s.phone_status
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.source IN ('action_network', 'forms') AND s.phone_status = 'unsubscribed'

-- Action Network actions. An attendance marked attended is an RSVP and an attendance.
UNION ALL
SELECT person_id, 'action_network', record_id,
       CASE resource
           WHEN 'signatures' THEN 'petition_signature'
           WHEN 'attendances' THEN 'event_rsvp'
           WHEN 'submissions' THEN 'form_submission'
           WHEN 'donations' THEN 'donation'
           WHEN 'outreaches' THEN 'outreach'
       END,
       occurred_at, object_title, object_id, 'web',
       CASE resource WHEN 'donations' THEN amount END,
       CASE resource WHEN 'donations' THEN coalesce(recurring, false) END,
       CASE resource
           WHEN 'attendances' THEN status
           ELSE CASE WHEN referral_code(code_source) IS NULL THEN code_source END
       END
FROM stage.an_actions
WHERE person_id IS NOT NULL
  AND (resource <> 'attendances'
       OR attended
       OR coalesce(status, '') NOT IN ('declined', 'cancelled', 'canceled', 'not attending',
                                       'needs action', 'no'))

UNION ALL
SELECT person_id, 'action_network', record_id, 'event_attended',
       coalesce(object_starts_at, occurred_at), object_title, object_id, 'event', NULL, NULL,
       status
FROM stage.an_actions
WHERE person_id IS NOT NULL AND resource = 'attendances' AND attended

-- Hosting: the event's organizer, else its creator.
UNION ALL
SELECT ps.person_id, 'action_network', o.object_id, 'event_hosted',
       coalesce(o.starts_at, o.created_at), o.title, o.object_id, 'event', NULL, NULL,
       o.host_link
FROM stage.an_objects o
JOIN person_sources ps ON ps.source = 'action_network' AND ps.source_record_id = o.host_uuid
WHERE o.resource = 'events'

-- Form exports: every row is a submission; some say more.
UNION ALL
SELECT person_id, source, source_record_id, 'form_submission', occurred_at, file_name,
       file_name, 'form', NULL, NULL, layout
FROM stage.form_rows

UNION ALL
SELECT person_id, source, source_record_id, 'volunteer_signup', occurred_at, file_name,
       file_name, 'form', NULL, NULL, left(volunteer, 200)
FROM stage.form_rows
WHERE says_yes(volunteer)

UNION ALL
SELECT person_id, source, source_record_id, 'event_rsvp', occurred_at, file_name,
       file_name, 'form', NULL, NULL, left(attended, 100)
FROM stage.form_rows
WHERE attended_answer(attended) IS NOT NULL

UNION ALL
SELECT person_id, source, source_record_id, 'event_attended', occurred_at, file_name,
       file_name, 'event', NULL, NULL, left(attended, 100)
FROM stage.form_rows
WHERE attended_answer(attended) = 'attended'

-- Mailchimp email activity.
UNION ALL
SELECT person_id, 'mailchimp', record_id, 'email_' || action, occurred_at, campaign_title,
       campaign_id, 'email', NULL, NULL,
       CASE action WHEN 'click' THEN url WHEN 'bounce' THEN bounce_type END
FROM stage.mc_events
WHERE person_id IS NOT NULL AND action IN ('open', 'click', 'bounce')

-- Tags a human put on them on a platform.
UNION ALL
SELECT person_id, source, coalesce(tagging_id, source_record_id), 'tag_added', occurred_at,
       tag, tag, NULL, NULL, NULL, NULL
FROM stage.platform_tags;

CREATE OR REPLACE TEMP TABLE _activities AS
SELECT b.*,
       CASE WHEN b.activity_type IN (
                'petition_signature', 'event_rsvp', 'event_attended', 'form_submission',
                'volunteer_signup', 'donation', 'outreach')
            THEN r.recruiter END AS referred_by_person_id
FROM _activities_base b
LEFT JOIN stage.referrals r USING (source, source_record_id)
UNION ALL
-- A referral, dated and described like the action that was referred.
SELECT b.person_id, b.source, b.source_record_id, 'referral', b.occurred_at, b.object,
       b.object_id, b.channel, NULL, NULL, r.method, r.recruiter
FROM _activities_base b
JOIN stage.referrals r USING (source, source_record_id)
-- One per referred record: an attendance marked attended is an RSVP too, and every form
-- row is a submission whatever else it says.
WHERE (b.source = 'forms' AND b.activity_type = 'form_submission')
   OR (b.source = 'action_network' AND b.activity_type IN (
           'petition_signature', 'event_rsvp', 'form_submission', 'donation', 'outreach'));

-- What could not be placed on a person, for the run's metadata.
CREATE OR REPLACE TABLE stage.activity_stats AS
SELECT
    (SELECT count(*) FROM stage.an_actions WHERE person_id IS NULL) AS actions_without_person,
    (SELECT count(*) FROM stage.mc_events WHERE person_id IS NULL) AS email_events_without_person,
    (SELECT count(*) FROM stage.an_objects WHERE resource = 'events' AND host_uuid IS NOT NULL)
        AS events_naming_a_host;

-- The new activities swapped in whole: readers never see them half-built.
BEGIN TRANSACTION;
DELETE FROM activities;
INSERT INTO activities BY NAME SELECT * FROM _activities;
COMMIT;

DROP TABLE _activities;
DROP TABLE _activities_base;
