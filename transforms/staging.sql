-- One typed, normalised row per source record, its latest version, from every raw table.
-- Expects the UDF normalise_phone(varchar) registered on the connection.

CREATE OR REPLACE TEMP MACRO utc_ts(s) AS
    CAST(TRY_CAST(nullif(trim(s), '') AS TIMESTAMPTZ) AS TIMESTAMP);

-- Form tools write local, locale-formatted times: try the layouts they use.
CREATE OR REPLACE TEMP MACRO form_ts(s) AS coalesce(
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M:%S'),
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M'),
    TRY_CAST(nullif(trim(s), '') AS TIMESTAMP),
    utc_ts(s),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y %I:%M %p'),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y'),
    try_strptime(nullif(trim(s), ''), '%d/%m/%Y %H:%M:%S'));

-- The address to send to: trimmed, lower case, and plausibly an address at all.
CREATE OR REPLACE TEMP MACRO clean_email(e) AS CASE
    WHEN regexp_full_match(lower(trim(e)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN lower(trim(e))
END;

-- The match key folds what mail providers treat as the same mailbox.
CREATE OR REPLACE TEMP MACRO email_key(e) AS CASE
    WHEN e IS NULL THEN NULL
    WHEN split_part(e, '@', 2) IN ('gmail.com', 'googlemail.com')
        THEN replace(split_part(split_part(e, '@', 1), '+', 1), '.', '') || '@gmail.com'
    WHEN split_part(e, '@', 2) IN ('outlook.com', 'hotmail.com', 'live.com', 'icloud.com',
                                   'me.com', 'fastmail.com', 'protonmail.com', 'proton.me')
        THEN split_part(split_part(e, '@', 1), '+', 1) || '@' || split_part(e, '@', 2)
    ELSE e
END;

CREATE OR REPLACE TEMP TABLE _stg_union AS
WITH an_tags AS (
    -- Tags as of the last complete read of the taggings (deleted ones are gone from it).
    SELECT t.payload ->> '$."groundswell:person_id"' AS person_uuid,
           list(DISTINCT tg.payload ->> '$.name' ORDER BY tg.payload ->> '$.name') AS tags
    FROM raw_action_network t
    JOIN raw_action_network tg
      ON tg.resource = 'tags' AND tg.batch_id = t.batch_id
     AND tg.record_id = t.payload ->> '$."groundswell:tag_id"'
    WHERE t.resource = 'taggings'
      AND t.batch_id = (SELECT cursor_value FROM sync_cursors
                        WHERE source = 'action_network' AND resource = 'taggings#current_batch')
    GROUP BY 1
), an AS (
    SELECT record_id, payload, modified_at
    FROM raw_action_network
    WHERE resource = 'people'
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
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
        lower(coalesce(list_filter(emails, lambda x: x."primary")[1], emails[1]).status) AS email_status,
        lower(coalesce(list_filter(phones, lambda x: x."primary")[1], phones[1]).status) AS phone_status,
        coalesce(an_tags.tags, []::VARCHAR[]) AS platform_tags,
        utc_ts(payload ->> '$.created_date') AS created_at,
        modified_at
    FROM an_typed
    LEFT JOIN an_tags ON an_tags.person_uuid = an_typed.record_id
), mc AS (
    SELECT record_id, payload, modified_at
    FROM raw_mailchimp
    WHERE resource = 'members'
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
), mc_rows AS (
    SELECT
        'mailchimp' AS source,
        record_id AS source_record_id,
        NULL::VARCHAR AS file_name,
        NULL::INTEGER AS row_number,
        nullif(payload ->> '$.merge_fields.FNAME', '') AS given_name,
        nullif(payload ->> '$.merge_fields.LNAME', '') AS family_name,
        payload ->> '$.email_address' AS email_raw,
        nullif(payload ->> '$.merge_fields.PHONE', '') AS phone_raw,
        nullif(payload ->> '$.merge_fields.ADDRESS.addr1', '') AS address_line,
        nullif(payload ->> '$.merge_fields.ADDRESS.city', '') AS locality,
        nullif(payload ->> '$.merge_fields.ADDRESS.state', '') AS region,
        nullif(payload ->> '$.merge_fields.ADDRESS.zip', '') AS postal_code,
        lower(payload ->> '$.status') AS email_status,
        NULL::VARCHAR AS phone_status,
        coalesce(list_transform(
            from_json(payload -> '$.tags', '[{"name":"VARCHAR"}]'), lambda t: t.name), []) AS platform_tags,
        coalesce(utc_ts(payload ->> '$.timestamp_signup'), utc_ts(payload ->> '$.timestamp_opt'),
                 modified_at) AS created_at,
        modified_at
    FROM mc
    -- Gone from the audience at the last reconciliation: no longer a source of anything.
    WHERE payload ->> '$.status' IS DISTINCT FROM 'deleted'
), latest_files AS (
    -- A corrected export under the same name replaces the rows of the earlier one.
    SELECT file_name, arg_max(file_hash, loaded_at) AS file_hash
    FROM raw_forms GROUP BY file_name
), fm AS (
    SELECT r.file_name, r.row_number, r.payload, r.loaded_at,
           nullif(trim(r.payload ->> '$.fields.full_name'), '') AS full_name
    FROM raw_forms r JOIN latest_files USING (file_name, file_hash)
), fm_rows AS (
    SELECT
        'forms' AS source,
        file_name || ':' || row_number AS source_record_id,
        file_name,
        row_number,
        coalesce(nullif(payload ->> '$.fields.given_name', ''),
                 CASE WHEN full_name IS NOT NULL THEN split_part(full_name, ' ', 1) END) AS given_name,
        coalesce(nullif(payload ->> '$.fields.family_name', ''),
                 CASE WHEN strpos(full_name, ' ') > 0
                      THEN trim(substr(full_name, strpos(full_name, ' ') + 1)) END) AS family_name,
        nullif(payload ->> '$.fields.email', '') AS email_raw,
        nullif(payload ->> '$.fields.phone', '') AS phone_raw,
        nullif(payload ->> '$.fields.address', '') AS address_line,
        nullif(payload ->> '$.fields.locality', '') AS locality,
        nullif(payload ->> '$.fields.region', '') AS region,
        nullif(payload ->> '$.fields.postal_code', '') AS postal_code,
        NULL::VARCHAR AS email_status,
        NULL::VARCHAR AS phone_status,
        []::VARCHAR[] AS platform_tags,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS created_at,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS modified_at
    FROM fm
)
SELECT * FROM an_rows
UNION ALL BY NAME SELECT * FROM mc_rows
UNION ALL BY NAME SELECT * FROM fm_rows;

-- Phone parsing is the one step SQL cannot do: call it once per distinct raw value.
CREATE OR REPLACE TEMP TABLE _phones AS
SELECT phone_raw, normalise_phone(phone_raw) AS phone
FROM (SELECT DISTINCT phone_raw FROM _stg_union WHERE phone_raw IS NOT NULL);

BEGIN TRANSACTION;
DELETE FROM stg_source_records;
INSERT INTO stg_source_records BY NAME
SELECT
    u.source, u.source_record_id, u.file_name, u.row_number,
    nullif(trim(u.given_name), '') AS given_name,
    nullif(trim(u.family_name), '') AS family_name,
    u.email_raw,
    clean_email(u.email_raw) AS email,
    email_key(clean_email(u.email_raw)) AS email_key,
    u.phone_raw,
    p.phone,
    nullif(trim(u.address_line), '') AS address_line,
    nullif(trim(u.locality), '') AS locality,
    nullif(upper(trim(u.region)), '') AS region,
    nullif(upper(replace(trim(u.postal_code), ' ', '')), '') AS postal_code,
    u.email_status,
    u.phone_status,
    u.platform_tags,
    u.created_at,
    u.modified_at
FROM _stg_union u
LEFT JOIN _phones p USING (phone_raw);
COMMIT;

DROP TABLE _stg_union;
DROP TABLE _phones;
