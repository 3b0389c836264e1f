-- step: activities_mailchimp
-- reads: raw_mailchimp, stg_source_records, person_sources, utc_ts(), version_order()
-- writes: stage.mc_events, stage.activities_mailchimp, stage.activity_stats_mailchimp
-- params: $namespace
-- udfs: -

-- Mailchimp's part of `activities` (docs/architecture.md, "Adding a platform"): signups,
-- email activity and member tags, each with the person it belongs to through
-- person_sources, in `stage.activities_mailchimp`; and its counts for the run's metadata.
-- $namespace: Groundswell's own tag prefix; those tags are not a person's activity.

-- Mailchimp email activity: one row per open, click or bounce.
CREATE OR REPLACE TABLE stage.mc_events AS
WITH latest AS (
    SELECT record_id, payload
    FROM raw_mailchimp
    WHERE resource = 'email_activity'
      AND rowid IN (SELECT arg_max(rowid, version_order(modified_at, loaded_at))
                    FROM raw_mailchimp WHERE resource = 'email_activity' GROUP BY record_id)
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

-- Activity rows, in the columns every platform's activities view gives.
CREATE OR REPLACE TABLE stage.activities_mailchimp AS
-- Joined: the member's signup (an email list: channel email).
SELECT ps.person_id, s.source, s.source_record_id, 'joined' AS activity_type,
       s.created_at AS occurred_at, NULL::VARCHAR AS object, NULL::VARCHAR AS object_id,
       'email' AS channel, NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring,
       NULL::VARCHAR AS detail, false AS referable
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id)
WHERE s.source = 'mailchimp'

-- Email activity, one row per open, click or bounce.
UNION ALL
SELECT person_id, 'mailchimp', record_id, 'email_' || action, occurred_at, campaign_title,
       campaign_id, 'email', NULL, NULL,
       CASE action WHEN 'click' THEN url WHEN 'bounce' THEN bounce_type END, false
FROM stage.mc_events
WHERE person_id IS NOT NULL AND action IN ('open', 'click', 'bounce')

-- Member tags outside Groundswell's namespace. They carry no date: dated by the first
-- load of the member that showed the tag.
UNION ALL
SELECT * FROM (
    WITH mc_now AS (
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
    )
    SELECT ps.person_id, 'mailchimp', n.source_record_id, 'tag_added', s.first_seen, n.tag,
           n.tag, NULL, NULL, NULL, NULL, false
    FROM mc_now n
    LEFT JOIN mc_seen s ON s.record_id = n.source_record_id AND s.tag = n.tag
    JOIN person_sources ps ON ps.source = 'mailchimp' AND ps.source_record_id = n.source_record_id
    WHERE nullif(trim(n.tag), '') IS NOT NULL
      AND NOT starts_with(lower(trim(n.tag)), lower($namespace))
);

-- What could not be placed on a person, for the run's metadata.
CREATE OR REPLACE TABLE stage.activity_stats_mailchimp AS
SELECT 'email_events_without_person' AS key, count(*) AS value
FROM stage.mc_events WHERE person_id IS NULL;
