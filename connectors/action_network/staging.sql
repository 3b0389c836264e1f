-- step: stage_action_network
-- reads: raw_action_network, sync_cursors, utc_ts(), version_order()
-- writes: current_taggings(), stage.stg_action_network
-- params: -
-- udfs: -

-- Action Network taggings as of the last complete read of them (a tagging removed on the
-- platform is gone from it): the person's uuid, the tag's name, the tagging's id and record.
-- A macro kept in the warehouse (main schema), like the shared value macros: its
-- activities, its destination state and erasure read it, also after erasure empties the
-- `stage` schema.
CREATE OR REPLACE MACRO current_taggings() AS TABLE
SELECT t.payload ->> '$."groundswell:person_id"' AS person_uuid,
       tg.payload ->> '$.name' AS tag,
       t.record_id AS tagging_id,
       t.payload
FROM raw_action_network t
JOIN raw_action_network tg
  ON tg.resource = 'tags' AND tg.batch_id = t.batch_id
 AND tg.record_id = t.payload ->> '$."groundswell:tag_id"'
WHERE t.resource = 'taggings'
  AND t.batch_id = (SELECT cursor_value FROM sync_cursors
                    WHERE source = 'action_network' AND resource = 'taggings#current_batch');

-- Action Network's part of stg_source_records: the latest version of every person, in the
-- columns every platform's staging view gives (docs/architecture.md, "Adding a platform");
-- transforms/staging.sql types, normalises and keys them. A view: it costs nothing until
-- staging reads it.
CREATE OR REPLACE VIEW stage.stg_action_network AS
WITH an_tags AS (
    -- Tags as of the last complete read of the taggings (deleted ones are gone from it).
    SELECT person_uuid, list(DISTINCT tag ORDER BY tag) AS tags
    FROM current_taggings()
    GROUP BY 1
), an AS (
    SELECT record_id, payload, modified_at
    FROM raw_action_network
    WHERE resource = 'people'
      AND rowid IN (SELECT arg_max(rowid, version_order(modified_at, loaded_at))
                    FROM raw_action_network WHERE resource = 'people' GROUP BY record_id)
), an_typed AS (
    SELECT
        record_id,
        payload,
        modified_at,
        from_json(payload -> '$.email_addresses',
            '[{"primary":"BOOLEAN","address":"VARCHAR","status":"VARCHAR"}]') AS emails,
        from_json(payload -> '$.phone_numbers',
            '[{"primary":"BOOLEAN","number":"VARCHAR","status":"VARCHAR"}]') AS phones,
        from_json(payload -> '$.postal_addresses',
            '[{"primary":"BOOLEAN","address_lines":["VARCHAR"],"locality":"VARCHAR","region":"VARCHAR","postal_code":"VARCHAR"}]') AS addresses
    FROM an
), an_rows AS (
    SELECT
        'action_network' AS source,
        record_id AS source_record_id,
        NULL::VARCHAR AS file_name,
        NULL::INTEGER AS row_number,
        payload ->> '$.given_name' AS given_name,
        payload ->> '$.family_name' AS family_name,
        coalesce(list_filter(emails, lambda x: x."primary")[1], emails[1]).address AS email_raw,
        coalesce(list_filter(phones, lambda x: x."primary")[1], phones[1]).number AS phone_raw,
        coalesce(list_filter(addresses, lambda x: x."primary")[1], addresses[1]).address_lines[1] AS address_line,
        coalesce(list_filter(addresses, lambda x: x."primary")[1], addresses[1]).locality AS locality,
        coalesce(list_filter(addresses, lambda x: x."primary")[1], addresses[1]).region AS region,
        coalesce(list_filter(addresses, lambda x: x."primary")[1], addresses[1]).postal_code AS postal_code,
        NULL::VARCHAR AS alt_email_raw,
        lower(coalesce(list_filter(emails, lambda x: x."primary")[1], emails[1]).status) AS email_status,
        lower(coalesce(list_filter(phones, lambda x: x."primary")[1], phones[1]).status) AS phone_status,
        NULL::VARCHAR AS email_consent,
        NULL::VARCHAR AS sms_consent,
        coalesce(an_tags.tags, []::VARCHAR[]) AS platform_tags,
        -- Every id the platform lists for the person (its own uuid among them), sorted.
        list_sort(list_distinct(list_concat(['action_network:' || record_id],
            coalesce(payload ->> '$.identifiers[*]', []::VARCHAR[])))) AS platform_ids,
        utc_ts(payload ->> '$.created_date') AS created_at,
        modified_at
    FROM an_typed
    LEFT JOIN an_tags ON an_tags.person_uuid = an_typed.record_id
)
SELECT * FROM an_rows;
