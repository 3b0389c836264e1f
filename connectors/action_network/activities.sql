-- step: activities_action_network
-- reads: raw_action_network, stg_source_records, person_sources, sync_ledger, utc_ts(),
--     current_taggings(), answer_norm(), referral_code(), version_order()
-- writes: stage.an_objects, stage.an_actions, stage.activities_action_network,
--     stage.referral_candidates_action_network, stage.referral_claims_action_network,
--     stage.activity_stats_action_network
-- params: $namespace
-- udfs: -

-- Action Network's part of `activities` (docs/architecture.md, "Adding a platform"): the
-- latest version of every object and action, each with the person it belongs to through
-- person_sources, mapped to activity rows in `stage.activities_action_network`; the codes
-- on its actions that may name a recruiter and the codes its people own, for referrals.sql;
-- and its counts for the run's metadata.
-- $namespace: Groundswell's own tag prefix; those tags are not a person's activity.

-- Organising objects: petitions, events, forms, fundraising pages, advocacy campaigns.
CREATE OR REPLACE TABLE stage.an_objects AS
WITH latest AS (
    SELECT resource, record_id, payload
    FROM raw_action_network
    WHERE resource IN ('petitions', 'events', 'forms', 'fundraising_pages', 'advocacy_campaigns')
      AND rowid IN (SELECT arg_max(rowid, version_order(modified_at, loaded_at))
                    FROM raw_action_network
                    WHERE resource IN ('petitions', 'events', 'forms', 'fundraising_pages', 'advocacy_campaigns')
                    GROUP BY resource, record_id)
), typed AS (
    SELECT resource, record_id, json_transform(payload, '{
        "title": "VARCHAR", "name": "VARCHAR", "created_date": "VARCHAR", "start_date": "VARCHAR",
        "_links": {"osdi:organizer": {"href": "VARCHAR"}, "osdi:creator": {"href": "VARCHAR"}}
    }') AS j
    FROM latest
)
SELECT
    resource,
    record_id AS object_id,
    coalesce(nullif(trim(j.title), ''), nullif(trim(j.name), ''), record_id) AS title,
    utc_ts(j.created_date) AS created_at,
    utc_ts(j.start_date) AS starts_at,
    -- The event's host: the organizer it names, else its creator (both are person links).
    nullif(regexp_extract(
        coalesce(j._links."osdi:organizer".href, j._links."osdi:creator".href), '[^/]+$'), '')
        AS host_uuid,
    CASE WHEN j._links."osdi:organizer".href IS NOT NULL THEN 'organizer'
         WHEN j._links."osdi:creator".href IS NOT NULL THEN 'creator' END AS host_link
FROM typed;

-- Signatures, attendances, submissions, donations and outreaches.
CREATE OR REPLACE TABLE stage.an_actions AS
WITH latest AS (
    SELECT resource, record_id, payload
    FROM raw_action_network
    WHERE resource IN ('signatures', 'attendances', 'submissions', 'donations', 'outreaches')
      AND rowid IN (SELECT arg_max(rowid, version_order(modified_at, loaded_at))
                    FROM raw_action_network
                    WHERE resource IN ('signatures', 'attendances', 'submissions', 'donations', 'outreaches')
                    GROUP BY resource, record_id)
), typed AS (
    SELECT resource, record_id, json_transform(payload, '{
        "created_date": "VARCHAR", "status": "VARCHAR", "attended": "BOOLEAN",
        "amount": "VARCHAR",
        "action_network:person_id": "VARCHAR",
        "action_network:petition_id": "VARCHAR", "action_network:event_id": "VARCHAR",
        "action_network:form_id": "VARCHAR", "action_network:fundraising_page_id": "VARCHAR",
        "action_network:advocacy_campaign_id": "VARCHAR",
        "action_network:recurrence": {"recurring": "BOOLEAN"},
        "action_network:referrer_data": {"source": "VARCHAR", "referrer": "VARCHAR"},
        "_links": {"osdi:person": {"href": "VARCHAR"}}
    }') AS j
    FROM latest
), shaped AS (
    SELECT
        resource,
        record_id,
        coalesce(nullif(j."action_network:person_id", ''),
                 nullif(regexp_extract(j._links."osdi:person".href, '[^/]+$'), '')) AS person_uuid,
        CASE resource
            WHEN 'signatures' THEN j."action_network:petition_id"
            WHEN 'attendances' THEN j."action_network:event_id"
            WHEN 'submissions' THEN j."action_network:form_id"
            WHEN 'donations' THEN j."action_network:fundraising_page_id"
            WHEN 'outreaches' THEN j."action_network:advocacy_campaign_id"
        END AS object_id,
        utc_ts(j.created_date) AS occurred_at,
        answer_norm(j.status) AS status,
        coalesce(j.attended, false)
            OR answer_norm(j.status) IN ('attended', 'checked in', 'checked-in', 'checkedin')
            AS attended,
        TRY_CAST(nullif(trim(j.amount), '') AS DECIMAL(12, 2)) AS amount,
        j."action_network:recurrence".recurring AS recurring,
        nullif(trim(j."action_network:referrer_data".source), '') AS code_source,
        nullif(trim(j."action_network:referrer_data".referrer), '') AS code_referrer
    FROM typed
)
SELECT
    a.*,
    o.title AS object_title,
    o.starts_at AS object_starts_at,
    ps.person_id
FROM shaped a
LEFT JOIN stage.an_objects o ON o.object_id = a.object_id
LEFT JOIN person_sources ps
       ON ps.source = 'action_network' AND ps.source_record_id = a.person_uuid;

-- Activity rows, in the columns every platform's activities view gives.
CREATE OR REPLACE TABLE stage.activities_action_network AS
-- Joined: when Action Network first knew them.
SELECT ps.person_id, s.source, s.source_record_id, 'joined' AS activity_type,
       s.created_at AS occurred_at, NULL::VARCHAR AS object, NULL::VARCHAR AS object_id,
       'web' AS channel, NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring,
       NULL::VARCHAR AS detail, false AS referable
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.source = 'action_network'

-- A spam complaint is an unsubscribe here (a plain 'unsubscribed' is the shared rule).
UNION ALL
SELECT ps.person_id, s.source, s.source_record_id, 'unsubscribe', s.modified_at, NULL, NULL,
       'email', NULL, NULL, s.email_status, false
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.source = 'action_network' AND s.email_status = 'spam complaint'

-- Actions. An attendance marked attended is an RSVP and an attendance; the RSVP is the
-- one a referral counts on.
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
       END,
       true
FROM stage.an_actions
WHERE person_id IS NOT NULL
  AND (resource <> 'attendances'
       OR attended
       OR coalesce(status, '') NOT IN ('declined', 'cancelled', 'canceled', 'not attending',
                                       'needs action', 'no'))

UNION ALL
SELECT person_id, 'action_network', record_id, 'event_attended',
       coalesce(object_starts_at, occurred_at), object_title, object_id, 'event', NULL, NULL,
       status, false
FROM stage.an_actions
WHERE person_id IS NOT NULL AND resource = 'attendances' AND attended

-- Hosting: the event's organizer, else its creator.
UNION ALL
SELECT ps.person_id, 'action_network', o.object_id, 'event_hosted',
       coalesce(o.starts_at, o.created_at), o.title, o.object_id, 'event', NULL, NULL,
       o.host_link, false
FROM stage.an_objects o
JOIN person_sources ps ON ps.source = 'action_network' AND ps.source_record_id = o.host_uuid
WHERE o.resource = 'events'

-- Taggings outside Groundswell's namespace as of the last complete read, dated by the
-- tagging.
UNION ALL
SELECT ps.person_id, 'action_network', coalesce(t.tagging_id, t.person_uuid), 'tag_added',
       utc_ts(t.payload ->> '$.created_date'), t.tag, t.tag, NULL, NULL, NULL, NULL, false
FROM current_taggings() t
JOIN person_sources ps ON ps.source = 'action_network' AND ps.source_record_id = t.person_uuid
WHERE nullif(trim(t.tag), '') IS NOT NULL
  AND NOT starts_with(lower(trim(t.tag)), lower($namespace));

-- Referral candidates: an action's `action_network:referrer_data` carries a `source` (a
-- free campaign code from ?source=) and a `referrer` code; the first is tried first.
CREATE OR REPLACE VIEW stage.referral_candidates_action_network AS
SELECT 'action_network' AS source, record_id AS source_record_id, person_id,
       code_source AS code, code_referrer AS second_code, NULL::VARCHAR AS answer
FROM stage.an_actions
WHERE person_id IS NOT NULL AND (code_source IS NOT NULL OR code_referrer IS NOT NULL);

-- Who owns a referral code (referrals.sql keeps the codes in use and the strongest claim):
-- the Action Network person who carries it in a custom field (the value is the code,
-- whatever the field is called), or to whom Groundswell issued it and Action Network
-- confirmed (before it is read back); failing that, `ref-` and the first 8 characters of a
-- person's Action Network id.
CREATE OR REPLACE VIEW stage.referral_claims_action_network AS
WITH written AS (
    -- The latest version of each person who ever had a code-like custom field value.
    SELECT record_id, payload
    FROM raw_action_network
    WHERE resource = 'people'
      AND record_id IN (
          SELECT record_id FROM raw_action_network
          WHERE resource = 'people'
            AND regexp_matches(CAST(payload -> '$.custom_fields' AS VARCHAR), 'ref[-_]', 'i'))
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
)
SELECT referral_code(value) AS code, 'action_network' AS source,
       record_id AS source_record_id, 1 AS rank, 'custom field' AS how
FROM (SELECT record_id,
             unnest(map_values(from_json(payload -> '$.custom_fields',
                                         '"MAP(VARCHAR, VARCHAR)"'))) AS value
      FROM written)
WHERE referral_code(value) IS NOT NULL
UNION ALL
SELECT referral_code(state), 'action_network', member_key, 1, 'issued by groundswell'
FROM sync_ledger
WHERE destination = 'action_network' AND kind = 'field' AND referral_code(state) IS NOT NULL
UNION ALL
SELECT 'ref-' || lower(left(source_record_id, 8)), 'action_network', source_record_id, 2,
       'action network id'
FROM person_sources
WHERE source = 'action_network';

-- What could not be placed on a person, for the run's metadata.
CREATE OR REPLACE TABLE stage.activity_stats_action_network AS
SELECT 'actions_without_person' AS key, count(*) AS value
FROM stage.an_actions WHERE person_id IS NULL
UNION ALL
SELECT 'events_naming_a_host', count(*)
FROM stage.an_objects WHERE resource = 'events' AND host_uuid IS NOT NULL;
