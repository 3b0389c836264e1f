-- step: activities
-- reads: stage.activities_platforms, stage.referrals, stg_source_records, person_sources
-- writes: activities
-- params: -
-- udfs: -

-- One row per thing a person did, from every source: what each platform's activities.sql
-- maps (stage.activities_platforms, all of them as one; see connectors/<platform>/), the
-- rules every platform shares, and referrals. Runs after referrals.sql. The activity types,
-- and which platform maps each: docs/user-guide.md, "Activities".
-- Actions (what person_metrics counts as one) also carry referred_by_person_id when referred.

CREATE OR REPLACE TEMP TABLE _activities_base AS
SELECT * FROM stage.activities_platforms

-- Shared by every platform: a record whose email or phone status is unsubscribed.
UNION ALL BY NAME
SELECT ps.person_id, s.source, s.source_record_id, 'unsubscribe' AS activity_type,
       s.modified_at AS occurred_at, NULL::VARCHAR AS object, NULL::VARCHAR AS object_id,
       'email' AS channel, NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring,
       s.email_status AS detail, false AS referable
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.email_status = 'unsubscribed'

UNION ALL BY NAME
SELECT ps.person_id, s.source, s.source_record_id, 'unsubscribe' AS activity_type,
       s.modified_at AS occurred_at, NULL::VARCHAR AS object, NULL::VARCHAR AS object_id,
       'phone' AS channel, NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring,
       s.phone_status AS detail, false AS referable
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.phone_status = 'unsubscribed';

CREATE OR REPLACE TEMP TABLE _activities AS
SELECT b.* EXCLUDE (referable),
       CASE WHEN b.activity_type IN (
                'petition_signature', 'event_rsvp', 'event_attended', 'form_submission',
                'volunteer_signup', 'donation', 'outreach')
            THEN r.recruiter END AS referred_by_person_id
FROM _activities_base b
LEFT JOIN stage.referrals r USING (source, source_record_id)
UNION ALL BY NAME
-- A referral, dated and described like the action that was referred: one per referred
-- record, on the row its platform marks `referable`.
SELECT b.person_id, b.source, b.source_record_id, 'referral' AS activity_type,
       b.occurred_at, b.object, b.object_id, b.channel, NULL AS amount, NULL AS recurring,
       r.method AS detail, r.recruiter AS referred_by_person_id
FROM _activities_base b
JOIN stage.referrals r USING (source, source_record_id)
WHERE b.referable;

-- The new activities swapped in whole: readers never see them half-built. Written in a
-- stable order, whichever platforms wrote them: records' joins and unsubscribes keep the
-- order of stg_source_records, then actions, tags and referrals. (Nothing may depend on
-- it: person_metrics breaks ties of time by name, as parallel aggregates do not keep order.)
CREATE OR REPLACE TEMP TABLE _record_order AS
SELECT source, source_record_id, rowid AS position FROM stg_source_records;

BEGIN TRANSACTION;
DELETE FROM activities;
INSERT INTO activities BY NAME
SELECT a.* FROM _activities a LEFT JOIN _record_order o USING (source, source_record_id)
WHERE a.activity_type = 'joined' ORDER BY o.position NULLS LAST;
INSERT INTO activities BY NAME
SELECT a.* FROM _activities a LEFT JOIN _record_order o USING (source, source_record_id)
WHERE a.activity_type = 'unsubscribe' AND a.channel = 'email' ORDER BY o.position NULLS LAST;
INSERT INTO activities BY NAME
SELECT a.* FROM _activities a LEFT JOIN _record_order o USING (source, source_record_id)
WHERE a.activity_type = 'unsubscribe' AND a.channel = 'phone' ORDER BY o.position NULLS LAST;
INSERT INTO activities BY NAME
SELECT * FROM _activities
WHERE activity_type NOT IN ('joined', 'tag_added', 'referral')
  AND NOT (activity_type = 'unsubscribe' AND coalesce(channel IN ('email', 'phone'), false));
INSERT INTO activities BY NAME
SELECT * FROM _activities WHERE activity_type = 'tag_added';
INSERT INTO activities BY NAME
SELECT * FROM _activities WHERE activity_type = 'referral';
COMMIT;

DROP TABLE _record_order;

DROP TABLE _activities;
DROP TABLE _activities_base;
