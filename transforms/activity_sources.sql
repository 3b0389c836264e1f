-- step: activity_sources
-- reads: raw_action_network, raw_mailchimp, raw_forms, stg_source_records, person_sources,
--     utc_ts(), current_taggings(), answer_norm()
-- writes: stage.an_objects, stage.an_actions, stage.mc_events, stage.platform_tags,
--     stage.form_rows
-- params: $namespace
-- udfs: -

-- The inputs of activities and referrals, typed: the latest version of every raw record
-- (newest modified_at, then the newest load, as staging does), each with the person it
-- belongs to through person_sources, in `stage` tables activities.sql and referrals.sql
-- read.
-- $namespace: Groundswell's own tag prefix; those tags are not a person's activity.

-- Organising objects: petitions, events, forms, fundraising pages, advocacy campaigns.
CREATE OR REPLACE TABLE stage.an_objects AS
WITH latest AS (
    SELECT resource, record_id, payload
    FROM raw_action_network
    WHERE resource IN ('petitions', 'events', 'forms', 'fundraising_pages', 'advocacy_campaigns')
    QUALIFY row_number() OVER (
        PARTITION BY resource, record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
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
    QUALIFY row_number() OVER (
        PARTITION BY resource, record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
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

-- Mailchimp email activity: one row per open, click or bounce.
CREATE OR REPLACE TABLE stage.mc_events AS
WITH latest AS (
    SELECT record_id, payload
    FROM raw_mailchimp
    WHERE resource = 'email_activity'
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
), campaigns AS (
    SELECT record_id AS campaign_id,
           coalesce(nullif(trim(payload ->> '$.settings.title'), ''),
                    nullif(trim(payload ->> '$.settings.subject_line'), ''), record_id) AS title
    FROM raw_mailchimp
    WHERE resource = 'campaigns'
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
), typed AS (
    SELECT record_id, json_transform(payload, '{
        "campaign_id": "VARCHAR", "email_id": "VARCHAR", "email_address": "VARCHAR",
        "action": "VARCHAR", "type": "VARCHAR", "timestamp": "VARCHAR", "url": "VARCHAR"
    }') AS j
    FROM latest
)
SELECT
    t.record_id,
    lower(j.action) AS action,
    nullif(j.type, '') AS bounce_type,
    nullif(j.url, '') AS url,
    utc_ts(j.timestamp) AS occurred_at,
    j.campaign_id,
    coalesce(c.title, j.campaign_id) AS campaign_title,
    ps.person_id
FROM typed t
LEFT JOIN campaigns c ON c.campaign_id = t.j.campaign_id
LEFT JOIN person_sources ps
       ON ps.source = 'mailchimp'
      AND ps.source_record_id = coalesce(nullif(t.j.email_id, ''),
                                         md5(lower(trim(t.j.email_address))));

-- Tags a person carries on a platform now, outside Groundswell's namespace. Action Network
-- taggings as of the last complete read, dated by the tagging; Mailchimp member tags, which
-- carry no date, dated by the first load of the member that showed the tag.
CREATE OR REPLACE TABLE stage.platform_tags AS
WITH an AS (
    SELECT 'action_network' AS source, person_uuid AS source_record_id, tag, tagging_id,
           utc_ts(payload ->> '$.created_date') AS occurred_at
    FROM current_taggings()
), mc_now AS (
    SELECT source_record_id, unnest(platform_tags) AS tag
    FROM stg_source_records
    WHERE source = 'mailchimp' AND len(platform_tags) > 0
), mc_seen AS (
    SELECT record_id, tag.name AS tag, min(loaded_at) AS first_seen
    FROM (SELECT record_id, loaded_at,
                 unnest(from_json(payload -> '$.tags', '[{"name":"VARCHAR"}]')) AS tag
          FROM raw_mailchimp
          WHERE resource = 'members' AND json_array_length(payload -> '$.tags') > 0)
    GROUP BY ALL
), mc AS (
    SELECT 'mailchimp' AS source, n.source_record_id, n.tag, NULL::VARCHAR AS tagging_id,
           s.first_seen AS occurred_at
    FROM mc_now n
    LEFT JOIN mc_seen s ON s.record_id = n.source_record_id AND s.tag = n.tag
)
SELECT g.*, ps.person_id
FROM (SELECT * FROM an UNION ALL SELECT * FROM mc) g
JOIN person_sources ps USING (source, source_record_id)
WHERE nullif(trim(g.tag), '') IS NOT NULL
  AND NOT starts_with(lower(trim(g.tag)), lower($namespace));

-- Form export rows (the latest file of each name, as staging keeps), with the answers
-- that say more than "submitted".
CREATE OR REPLACE TABLE stage.form_rows AS
WITH latest_files AS (
    SELECT file_name, arg_max(file_hash, loaded_at) AS file_hash
    FROM raw_forms GROUP BY file_name
), rows AS (
    SELECT r.file_name, r.row_number, r.layout,
           json_transform(r.payload -> '$.fields',
               '{"volunteer": "VARCHAR", "attended": "VARCHAR", "referred_by": "VARCHAR"}') AS f
    FROM raw_forms r
    JOIN latest_files USING (file_name, file_hash)
    QUALIFY row_number() OVER (PARTITION BY r.file_name, r.row_number ORDER BY r.loaded_at DESC) = 1
)
SELECT
    'forms' AS source,
    r.file_name || ':' || r.row_number AS source_record_id,
    r.file_name,
    r.layout,
    s.created_at AS occurred_at,
    nullif(trim(r.f.volunteer), '') AS volunteer,
    nullif(trim(r.f.attended), '') AS attended,
    nullif(trim(r.f.referred_by), '') AS referred_by,
    ps.person_id
FROM rows r
JOIN stg_source_records s
  ON s.source = 'forms' AND s.source_record_id = r.file_name || ':' || r.row_number
JOIN person_sources ps USING (source, source_record_id);
