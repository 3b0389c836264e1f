-- step: staging
-- reads: stage.stg_platforms, phone_parses, stg_source_records, stage.name_canonical,
--     clean_email(), email_key(), name_norm(), address_norm(), street_parts(),
--     street_name_key()
-- writes: stg_source_records, phone_parses
-- params: $placeholder_emails, $placeholder_phones, $placeholder_names,
--     $placeholder_addresses, $phone_region, $phone_parser
-- udfs: phone_parts()

-- One typed, normalised row per source record, its latest version, from every platform,
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

-- Every platform's records (its staging view, connectors/<platform>/staging.sql), with the
-- consent answers a platform gives instead of a status (form exports) turned into one: a
-- no is an opt-out of that channel, a yes a subscription only when the row holds an
-- address (a phone) to subscribe, never a placeholder. The email answer is settled below,
-- where the address is cleaned and checked against the placeholders once for every row
-- (checking it here too cost a quarter of staging at a million records).
CREATE OR REPLACE TEMP TABLE _stg_union AS
SELECT * EXCLUDE (sms_consent) REPLACE (
    coalesce(phone_status, CASE sms_consent
        WHEN 'no' THEN 'unsubscribed'
        WHEN 'yes' THEN CASE WHEN regexp_matches(phone_raw, '[0-9]') THEN 'subscribed' END
    END) AS phone_status
)
FROM stage.stg_platforms;

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
    coalesce(f.email_status, CASE f.email_consent
        WHEN 'no' THEN 'unsubscribed'
        WHEN 'yes' THEN CASE WHEN f.email IS NOT NULL AND NOT f.email_placeholder
                             THEN 'subscribed' END
    END) AS email_status,
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
