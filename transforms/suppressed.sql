-- step: suppressed
-- reads: raw_action_network, raw_mailchimp, raw_forms, quarantine, erasure_suppressions,
--     phone_parses, clean_email(), email_key(), erasure_email_hashes(),
--     erasure_phone_text()
-- writes: raw_action_network, raw_mailchimp, raw_forms, quarantine,
--     stage.suppressed_by_source
-- params: $since, $phone_region, $phone_parser
-- udfs: phone_parts()

-- Forgotten people landed again (still on a platform, in a new form export, or under
-- another form of their address or phone): their raw rows are deleted before staging reads
-- anything, so an erased person is never re-imported. Compared by hashes only
-- (erasure_suppressions): an address by its match key (Gmail dots, +tags, googlemail.com
-- folded, as identity joins) and as given; a phone by its E.164 number; a platform record
-- by its id. A phone alone drops a record only when the record has no address of its own:
-- households share phones, and identity never joins on a phone alone either.
-- $since: only rows landed after it are read (the rest were read against the same
-- suppressions before), NULL for all. $phone_region, $phone_parser: the kept parses to reuse.

CREATE OR REPLACE TEMP TABLE _suppressed_emails AS
SELECT key_hash FROM erasure_suppressions WHERE kind IN ('email', 'email_key');

CREATE OR REPLACE TEMP TABLE _suppressed_phones AS
SELECT key_hash FROM erasure_suppressions WHERE kind = 'phone_key';

CREATE OR REPLACE TEMP TABLE _suppressed_ids AS
SELECT key_hash FROM erasure_suppressions WHERE kind = 'record_key';

-- Every address and phone on a contact record landed after $since, wherever identity or
-- a later version could read it: all of an activist's addresses and numbers, a member's
-- address and PHONE field, a form row's email, alternative email and phone.
CREATE OR REPLACE TEMP TABLE _raw_contacts AS
WITH an AS (
    SELECT record_id,
           from_json(payload -> '$.email_addresses', '[{"address": "VARCHAR"}]') AS emails,
           from_json(payload -> '$.phone_numbers', '[{"number": "VARCHAR"}]') AS phones
    FROM raw_action_network
    WHERE resource = 'people' AND ($since IS NULL OR loaded_at > $since)
), mc AS (
    -- One JSON parse a row for all the paths read.
    SELECT record_id,
           json_extract_string(payload, ['$.email_address', '$.merge_fields.PHONE']) AS v
    FROM raw_mailchimp
    WHERE resource = 'members' AND ($since IS NULL OR loaded_at > $since)
), fm AS (
    SELECT file_name || ':' || row_number AS record,
           json_extract_string(payload, ['$.fields.email', '$.fields.alt_email',
                                         '$.fields.phone']) AS v
    FROM raw_forms
    WHERE $since IS NULL OR loaded_at > $since
), contacts AS (
    SELECT 'action_network' AS source, record_id AS record, 'email' AS kind,
           unnest(emails).address AS value
    FROM an
    UNION ALL
    SELECT 'action_network', record_id, 'phone', unnest(phones).number FROM an
    UNION ALL
    SELECT 'mailchimp', record_id, 'email', v[1] FROM mc
    UNION ALL
    SELECT 'mailchimp', record_id, 'phone', v[2] FROM mc
    UNION ALL
    SELECT 'forms', record, 'email', v[1] FROM fm
    UNION ALL
    SELECT 'forms', record, 'email', v[2] FROM fm
    UNION ALL
    SELECT 'forms', record, 'phone', v[3] FROM fm
)
SELECT * FROM contacts WHERE nullif(trim(value), '') IS NOT NULL;

-- A member's activity carries the member's id and address.
CREATE OR REPLACE TEMP TABLE _raw_mailchimp_activity AS
SELECT record_id, v[1] AS email_address, v[2] AS email_id
FROM (SELECT record_id, json_extract_string(payload, ['$.email_address', '$.email_id']) AS v
      FROM raw_mailchimp
      WHERE resource <> 'members' AND ($since IS NULL OR loaded_at > $since))
WHERE v[1] IS NOT NULL OR v[2] IS NOT NULL;

-- Each distinct address is hashed once (a member's activity repeats it many times), as
-- given and as its match key (erasure_macros.sql says why both).
CREATE OR REPLACE TEMP TABLE _raw_addresses AS
WITH distinct_values AS (
    SELECT value FROM _raw_contacts WHERE kind = 'email'
    UNION
    SELECT email_address FROM _raw_mailchimp_activity WHERE email_address IS NOT NULL
), cleaned AS (
    -- clean_email once: email_key repeats its argument in every branch.
    SELECT value, clean_email(value) AS email FROM distinct_values
)
SELECT value,
       sha256(lower(trim(value))) IN (SELECT key_hash FROM _suppressed_emails)
           OR coalesce(sha256(email_key(email)) IN (SELECT key_hash FROM _suppressed_emails),
                       false) AS suppressed,
       email IS NOT NULL AS plausible
FROM cleaned;

-- Phones in E.164, by the parses staging kept; only numbers it has not parsed yet are
-- parsed here, and only when a phone is suppressed at all.
CREATE OR REPLACE TEMP TABLE _raw_phones AS
SELECT value, erasure_phone_text(value) AS phone_text
FROM (SELECT DISTINCT value FROM _raw_contacts WHERE kind = 'phone')
WHERE EXISTS (SELECT 1 FROM _suppressed_phones);

CREATE OR REPLACE TEMP TABLE _raw_phones_suppressed AS
SELECT value FROM (
    SELECT k.value, coalesce(c.e164, CASE WHEN c.phone_text IS NULL
                                          THEN phone_parts(k.phone_text).e164 END) AS e164
    FROM _raw_phones k
    LEFT JOIN phone_parses c
           ON c.phone_text = k.phone_text AND c.region = $phone_region
          AND c.parser = $phone_parser
)
WHERE sha256(e164) IN (SELECT key_hash FROM _suppressed_phones);

-- The contact records to drop: by address, by phone without an address, or by id.
CREATE OR REPLACE TEMP TABLE _suppressed_records AS
SELECT c.source, c.record
FROM _raw_contacts c
LEFT JOIN _raw_addresses a ON c.kind = 'email' AND a.value = c.value
GROUP BY c.source, c.record
HAVING bool_or(coalesce(a.suppressed, false))
    OR (bool_or(c.kind = 'phone' AND c.value IN (SELECT value FROM _raw_phones_suppressed))
        AND NOT bool_or(coalesce(a.plausible, false)))
UNION
SELECT 'action_network', record_id FROM raw_action_network
WHERE resource = 'people' AND ($since IS NULL OR loaded_at > $since)
  AND sha256('action_network:' || record_id) IN (SELECT key_hash FROM _suppressed_ids)
UNION
SELECT 'mailchimp', record_id FROM raw_mailchimp
WHERE resource = 'members' AND ($since IS NULL OR loaded_at > $since)
  AND sha256('mailchimp:' || record_id) IN (SELECT key_hash FROM _suppressed_ids);

-- An activist's actions and taggings point at them, and a member's activity at the
-- member, wherever they were landed (older rows are read only when a record was dropped).
CREATE OR REPLACE TEMP TABLE _suppressed_counts AS
SELECT count(*) FILTER (WHERE source = 'action_network') AS an,
       count(*) FILTER (WHERE source = 'mailchimp') AS mc
FROM _suppressed_records;

DELETE FROM raw_action_network
WHERE (resource = 'people'
       AND record_id IN (
           SELECT record FROM _suppressed_records WHERE source = 'action_network'))
   OR ((SELECT an FROM _suppressed_counts) > 0 AND resource <> 'people'
       AND coalesce(payload ->> '$."action_network:person_id"',
                    payload ->> '$."groundswell:person_id"') IN (
           SELECT record FROM _suppressed_records WHERE source = 'action_network'))
   OR (($since IS NULL OR loaded_at > $since) AND resource <> 'people'
       AND sha256('action_network:' || coalesce(payload ->> '$."action_network:person_id"',
                                                 payload ->> '$."groundswell:person_id"'))
           IN (SELECT key_hash FROM _suppressed_ids));

DELETE FROM raw_mailchimp
WHERE (resource = 'members'
       AND record_id IN (SELECT record FROM _suppressed_records WHERE source = 'mailchimp'))
   OR ((SELECT mc FROM _suppressed_counts) > 0 AND resource <> 'members'
       AND payload ->> '$.email_id' IN (
           SELECT record FROM _suppressed_records WHERE source = 'mailchimp'))
   OR (resource <> 'members' AND record_id IN (
        SELECT record_id FROM _raw_mailchimp_activity
        WHERE email_address IN (SELECT value FROM _raw_addresses WHERE suppressed)
           OR sha256('mailchimp:' || email_id) IN (SELECT key_hash FROM _suppressed_ids)));

DELETE FROM raw_forms
WHERE file_name || ':' || row_number IN (
    SELECT record FROM _suppressed_records WHERE source = 'forms');

-- Quarantined rows hold what was read, whatever its column: any address in them counts.
DELETE FROM quarantine
WHERE ($since IS NULL OR recorded_at > $since)
  AND list_has_any(
    flatten(list_transform(
        regexp_extract_all(CAST(payload AS VARCHAR),
                           '[^\s"'',;:<>()\[\]{}]+@[^\s"'',;:<>()\[\]{}]+'),
        lambda x: erasure_email_hashes(x))),
    (SELECT coalesce(list(key_hash), []) FROM _suppressed_emails));

DROP TABLE _suppressed_emails;
DROP TABLE _suppressed_phones;
DROP TABLE _suppressed_ids;
DROP TABLE _raw_contacts;
DROP TABLE _raw_mailchimp_activity;
DROP TABLE _raw_addresses;
DROP TABLE _raw_phones;
DROP TABLE _raw_phones_suppressed;
DROP TABLE _suppressed_counts;

-- What the purge dropped, per source (counts only).
CREATE OR REPLACE TABLE stage.suppressed_by_source AS
SELECT source, count(*) AS records FROM _suppressed_records GROUP BY source;
DROP TABLE _suppressed_records;
