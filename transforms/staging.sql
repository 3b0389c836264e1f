-- step: staging
-- reads: raw_action_network, raw_mailchimp, raw_forms, phone_parses, stg_source_records,
--     stage.name_canonical, utc_ts(), form_ts(), clean_email(), email_key(), name_norm(),
--     address_norm(), street_parts(), street_name_key(), current_taggings(),
--     consent_answer()
-- writes: stg_source_records, phone_parses
-- params: $placeholder_emails, $placeholder_phones, $placeholder_names,
--     $placeholder_addresses, $phone_region, $phone_parser
-- udfs: phone_parts()

-- One typed, normalised row per source record, its latest version, from every raw table,
-- with the keys identity matches on. The UDF phone_parts(varchar) is registered by
-- transforms/phones.py; stage.name_canonical is nicknames.sql's. Parameters: the placeholder lists $placeholder_emails,
-- $placeholder_phones, $placeholder_names, $placeholder_addresses
-- (transforms/placeholders.py), and $phone_region, $phone_parser naming the parses kept.

-- The value macros (utc_ts, clean_email, email_key, name_norm, ...) are in macros.sql.

-- The configured placeholders, normalised like the values they are compared with.
CREATE OR REPLACE TEMP TABLE _placeholder_emails AS
WITH given AS (
    SELECT DISTINCT lower(trim(v)) AS v
    FROM unnest($placeholder_emails::VARCHAR[]) AS t(v)
    WHERE nullif(trim(v), '') IS NOT NULL
)
SELECT 'domain' AS kind, substr(v, 2) AS value FROM given WHERE starts_with(v, '@')
UNION SELECT 'local', left(v, -1) FROM given WHERE ends_with(v, '@') AND NOT starts_with(v, '@')
UNION SELECT 'address', v FROM given WHERE NOT starts_with(v, '@') AND NOT ends_with(v, '@')
UNION SELECT 'address', email_key(clean_email(v)) FROM given
      WHERE NOT starts_with(v, '@') AND NOT ends_with(v, '@') AND clean_email(v) IS NOT NULL;

-- An address (clean) and its match key that name a placeholder rather than a person.
CREATE OR REPLACE TEMP MACRO _placeholder_email(e, k) AS coalesce(
    e IN (SELECT value FROM _placeholder_emails WHERE kind = 'address')
    OR k IN (SELECT value FROM _placeholder_emails WHERE kind = 'address')
    OR split_part(e, '@', 1) IN (SELECT value FROM _placeholder_emails WHERE kind = 'local')
    OR split_part(k, '@', 1) IN (SELECT value FROM _placeholder_emails WHERE kind = 'local')
    OR split_part(e, '@', 2) IN (SELECT value FROM _placeholder_emails WHERE kind = 'domain'),
    false);

CREATE OR REPLACE TEMP TABLE _placeholder_phones AS
SELECT DISTINCT regexp_replace(v, '[^0-9]', '', 'g') AS digits,
       phone_parts(regexp_replace(v, '[^0-9+]', '', 'g')).e164 AS e164
FROM unnest($placeholder_phones::VARCHAR[]) AS t(v)
WHERE regexp_replace(v, '[^0-9]', '', 'g') <> '';

CREATE OR REPLACE TEMP TABLE _placeholder_names AS
SELECT DISTINCT name_norm(v) AS name
FROM unnest($placeholder_names::VARCHAR[]) AS t(v)
WHERE name_norm(v) IS NOT NULL;

CREATE OR REPLACE TEMP TABLE _placeholder_addresses AS
SELECT DISTINCT address_norm(v) AS line,
       street_parts(v).number AS street_number,
       street_name_key(street_parts(v).street) AS street_name
FROM unnest($placeholder_addresses::VARCHAR[]) AS t(v)
WHERE address_norm(v) IS NOT NULL;

CREATE OR REPLACE TEMP TABLE _stg_union AS
WITH an_tags AS (
    -- Tags as of the last complete read of the taggings (deleted ones are gone from it).
    SELECT person_uuid, list(DISTINCT tag ORDER BY tag) AS tags
    FROM current_taggings()
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
        NULL::VARCHAR AS alt_email_raw,
        lower(coalesce(list_filter(emails, lambda x: x."primary")[1], emails[1]).status) AS email_status,
        lower(coalesce(list_filter(phones, lambda x: x."primary")[1], phones[1]).status) AS phone_status,
        coalesce(an_tags.tags, []::VARCHAR[]) AS platform_tags,
        -- Every id the platform lists for the person (its own uuid among them), sorted.
        list_sort(list_distinct(list_concat(['action_network:' || record_id],
            coalesce(payload ->> '$.identifiers[*]', []::VARCHAR[])))) AS platform_ids,
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
        NULL::VARCHAR AS alt_email_raw,
        lower(payload ->> '$.status') AS email_status,
        NULL::VARCHAR AS phone_status,
        coalesce(list_transform(
            from_json(payload -> '$.tags', '[{"name":"VARCHAR"}]'), lambda t: t.name), []) AS platform_tags,
        ['mailchimp:' || record_id] AS platform_ids,
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
        -- A second Email column's address (connectors/forms.py keeps it as alt_email).
        nullif(payload ->> '$.fields.alt_email', '') AS alt_email_raw,
        nullif(payload ->> '$.fields.phone', '') AS phone_raw,
        nullif(payload ->> '$.fields.address', '') AS address_line,
        nullif(payload ->> '$.fields.locality', '') AS locality,
        nullif(payload ->> '$.fields.region', '') AS region,
        nullif(payload ->> '$.fields.postal_code', '') AS postal_code,
        -- Consent answers (consent_answer, macros.sql), dated by the submission: a no is
        -- an opt-out of that channel, a yes a subscription only when the row holds an
        -- address (a phone) to subscribe; rows landed before issue 12 have `consent`.
        CASE consent_answer(coalesce(nullif(trim(payload ->> '$.fields.consent_email'), ''),
                                     payload ->> '$.fields.consent'), 'email')
            WHEN 'no' THEN 'unsubscribed'
            WHEN 'yes' THEN CASE
                WHEN clean_email(payload ->> '$.fields.email') IS NOT NULL
                 AND NOT _placeholder_email(clean_email(payload ->> '$.fields.email'),
                                            email_key(clean_email(payload ->> '$.fields.email')))
                THEN 'subscribed' END
        END AS email_status,
        CASE consent_answer(payload ->> '$.fields.consent_sms', 'sms')
            WHEN 'no' THEN 'unsubscribed'
            WHEN 'yes' THEN CASE WHEN regexp_matches(payload ->> '$.fields.phone', '[0-9]')
                                 THEN 'subscribed' END
        END AS phone_status,
        []::VARCHAR[] AS platform_tags,
        []::VARCHAR[] AS platform_ids,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS created_at,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS modified_at
    FROM fm
)
SELECT * FROM an_rows
UNION ALL BY NAME SELECT * FROM mc_rows
UNION ALL BY NAME SELECT * FROM fm_rows;

-- Phone parsing is the one step SQL cannot do (about 25 µs a number): call it once per
-- distinct number, and only for numbers the last run did not parse already with the same
-- default region and parser ($phone_region, $phone_parser). Values of only digits and
-- phone punctuation parse the same without the punctuation, so '(202) 555-0143' and
-- '202.555.0143' cost one call between them.
CREATE OR REPLACE TEMP TABLE _phone_texts AS
SELECT phone_raw,
       CASE WHEN regexp_full_match(phone_raw, '\s*([pP]:)?[\s0-9+().\-/]*')
            THEN regexp_replace(phone_raw, '[^0-9+]', '', 'g')
            ELSE phone_raw END AS phone_text,
       regexp_replace(phone_raw, '[^0-9]', '', 'g') AS digits
FROM (SELECT DISTINCT phone_raw FROM _stg_union WHERE phone_raw IS NOT NULL);

-- Parses kept from earlier runs (phone_parses, migration 005); only new numbers are parsed.

CREATE OR REPLACE TEMP TABLE _phone_parsed AS
SELECT c.phone_text, {'e164': c.e164, 'valid': c.valid, 'kind': c.kind} AS parts,
       false AS parsed_now
FROM phone_parses c
WHERE c.region = $phone_region AND c.parser = $phone_parser
  AND c.phone_text IN (SELECT phone_text FROM _phone_texts);

INSERT INTO _phone_parsed
SELECT phone_text, phone_parts(phone_text), true
FROM (SELECT DISTINCT phone_text FROM _phone_texts
      WHERE phone_text NOT IN (SELECT phone_text FROM _phone_parsed));

CREATE OR REPLACE TEMP TABLE _phones AS
SELECT t.phone_raw,
       p.parts.e164 AS phone,
       CASE WHEN t.digits NOT IN (SELECT digits FROM _placeholder_phones)
             AND p.parts.e164 NOT IN (SELECT e164 FROM _placeholder_phones WHERE e164 IS NOT NULL)
            THEN p.parts.e164 END AS phone_key,
       p.parts.valid AS phone_valid,
       p.parts.kind AS phone_type
FROM _phone_texts t JOIN _phone_parsed p USING (phone_text);

-- The new rows, shaped like the table (same columns, same order) so they compare.
CREATE OR REPLACE TEMP TABLE _stg_new AS SELECT * FROM stg_source_records LIMIT 0;

INSERT INTO _stg_new BY NAME
WITH cleaned AS (
    SELECT
        u.*,
        clean_email(u.email_raw) AS email,
        name_norm(u.given_name) AS given_clean,
        name_norm(u.family_name) AS family_clean,
        nullif(trim(u.address_line), '') AS address_trimmed,
        street_parts(u.address_line) AS street
    FROM _stg_union u
), keyed AS (
    SELECT
        c.*,
        email_key(c.email) AS email_match,
        email_key(clean_email(c.alt_email_raw)) AS alt_email_match,
        CASE WHEN c.given_clean NOT IN (SELECT name FROM _placeholder_names)
             THEN c.given_clean END AS given_norm,
        CASE WHEN c.family_clean NOT IN (SELECT name FROM _placeholder_names)
             THEN c.family_clean END AS family_norm,
        nullif(c.street.number, '') AS number_found,
        street_name_key(c.street.street) AS street_found
    FROM cleaned c
), flagged AS (
    SELECT
        k.*,
        _placeholder_email(k.email, k.email_match) AS email_placeholder,
        _placeholder_email(clean_email(k.alt_email_raw), k.alt_email_match) AS alt_email_placeholder,
        coalesce(address_norm(k.address_trimmed) IN (SELECT line FROM _placeholder_addresses)
            OR k.number_found || ' ' || k.street_found IN (
                SELECT street_number || ' ' || street_name FROM _placeholder_addresses
                WHERE street_number IS NOT NULL AND street_name IS NOT NULL),
            false) AS address_placeholder
    FROM keyed k
)
SELECT
    f.source, f.source_record_id, f.file_name, f.row_number,
    nullif(trim(f.given_name), '') AS given_name,
    nullif(trim(f.family_name), '') AS family_name,
    f.email_raw,
    f.email,
    CASE WHEN NOT f.email_placeholder THEN f.email_match END AS email_key,
    CASE WHEN NOT f.alt_email_placeholder
          AND f.alt_email_match IS DISTINCT FROM f.email_match THEN f.alt_email_match
    END AS alt_email_key,
    f.email_placeholder,
    f.given_norm,
    f.family_norm,
    CASE WHEN f.given_norm IS NOT NULL
         THEN coalesce(n.canonical, split_part(f.given_norm, ' ', 1)) END AS given_key,
    f.phone_raw,
    p.phone,
    p.phone_key,
    p.phone_valid,
    p.phone_type,
    f.address_trimmed AS address_line,
    CASE WHEN NOT f.address_placeholder THEN f.number_found END AS street_number,
    CASE WHEN NOT f.address_placeholder THEN f.street_found END AS street_name,
    -- A town typed into the address cell ('12 Oak St Springfield') stands in for an empty
    -- town cell, in title case (street_parts gives it in upper case).
    coalesce(nullif(trim(f.locality), ''), CASE WHEN NOT f.address_placeholder THEN
        nullif(array_to_string(list_transform(string_split(lower(f.street.locality), ' '),
            lambda w: upper(left(w, 1)) || substr(w, 2)), ' '), '') END) AS locality,
    nullif(upper(trim(f.region)), '') AS region,
    nullif(upper(replace(trim(f.postal_code), ' ', '')), '') AS postal_code,
    f.email_status,
    f.phone_status,
    f.platform_tags,
    f.platform_ids,
    -- Nothing to link on: no usable email, phone or name.
    (f.email_placeholder OR f.email_match IS NULL)
        AND (f.alt_email_placeholder OR f.alt_email_match IS NULL) AND p.phone_key IS NULL
        AND f.given_norm IS NULL AND f.family_norm IS NULL AS is_empty,
    f.created_at,
    f.modified_at
FROM flagged f
LEFT JOIN _phones p USING (phone_raw)
LEFT JOIN stage.name_canonical n ON n.name = split_part(f.given_norm, ' ', 1);

-- Only rows that changed are swapped: replacing a million unchanged rows, and their
-- primary key entries, costs far more than finding the few that differ.
CREATE OR REPLACE TEMP TABLE _stg_changed AS
SELECT * FROM _stg_new EXCEPT SELECT * FROM stg_source_records;

BEGIN TRANSACTION;
DELETE FROM stg_source_records s
WHERE EXISTS (SELECT 1 FROM _stg_changed c
              WHERE c.source = s.source AND c.source_record_id = s.source_record_id)
   OR NOT EXISTS (SELECT 1 FROM _stg_new n
                  WHERE n.source = s.source AND n.source_record_id = s.source_record_id);
INSERT INTO stg_source_records SELECT * FROM _stg_changed;

-- Keep exactly the parses of the numbers staged now.
DELETE FROM phone_parses
WHERE region <> $phone_region OR parser <> $phone_parser
   OR phone_text NOT IN (SELECT phone_text FROM _phone_parsed);
INSERT INTO phone_parses (phone_text, region, parser, e164, valid, kind)
SELECT phone_text, $phone_region, $phone_parser, parts.e164, parts.valid, parts.kind
FROM _phone_parsed WHERE parsed_now;
COMMIT;

DROP TABLE _stg_union;
DROP TABLE _stg_new;
DROP TABLE _stg_changed;
DROP TABLE _phone_texts;
DROP TABLE _phone_parsed;
DROP TABLE _phones;
DROP TABLE _placeholder_emails;
DROP TABLE _placeholder_phones;
DROP TABLE _placeholder_names;
DROP TABLE _placeholder_addresses;
DROP MACRO _placeholder_email;
