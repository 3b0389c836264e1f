-- step: suppressed
-- reads: stage.contacts_platforms, quarantine, erasure_suppressions, phone_parses,
--     clean_email(), email_key(), erasure_email_hashes(), erasure_phone_text()
-- writes: quarantine, stage.purge_records, stage.suppressed_by_source
-- params: $since, $phone_region, $phone_parser
-- udfs: phone_parts()

-- Forgotten people landed again (still on a platform, in a new form export, or under
-- another form of their address or phone): the records to delete before staging reads
-- anything, so an erased person is never re-imported. Compared by hashes only
-- (erasure_suppressions): an address by its match key (Gmail dots, +tags, googlemail.com
-- folded, as identity joins) and as given; a phone by its E.164 number; a platform record
-- by its record key. A phone alone drops a record only when the record has no address of
-- its own: households share phones, and identity never joins on a phone alone either.
-- Each platform lists what its raw rows carry (stage.contacts_platforms, from its
-- contacts.sql) and deletes its rows of the records found here (its purge.sql, run next by
-- transforms/erasure.py, in the same transaction).
-- $since: only rows landed after it are read (the rest were read against the same
-- suppressions before), NULL for all. $phone_region, $phone_parser: the kept parses to reuse.

CREATE OR REPLACE TEMP TABLE _suppressed_emails AS
SELECT key_hash FROM erasure_suppressions WHERE kind IN ('email', 'email_key');

CREATE OR REPLACE TEMP TABLE _suppressed_phones AS
SELECT key_hash FROM erasure_suppressions WHERE kind = 'phone_key';

CREATE OR REPLACE TEMP TABLE _suppressed_ids AS
SELECT key_hash FROM erasure_suppressions WHERE kind = 'record_key';

-- Every address, phone and record key on a raw row landed after $since: contact records
-- (an activist, a member, a form row) and links (rows pointing at one, e.g. a member's
-- email activity, which carries the member's address and id). A record key is kept only
-- when suppressed (nearly every row carries one, few are suppressed).
CREATE OR REPLACE TEMP TABLE _raw_contacts AS
SELECT source, record, kind, value, link
FROM stage.contacts_platforms
WHERE ($since IS NULL OR loaded_at > $since) AND nullif(trim(value), '') IS NOT NULL
  AND (kind <> 'record_key' OR sha256(value) IN (SELECT key_hash FROM _suppressed_ids));

-- Each distinct address is hashed once (a member's activity repeats it many times), as
-- given and as its match key (erasure_macros.sql says why both).
CREATE OR REPLACE TEMP TABLE _raw_addresses AS
WITH distinct_values AS (
    SELECT DISTINCT value FROM _raw_contacts WHERE kind = 'email'
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

-- The records to drop: a contact record by address, by phone without an address, or by
-- its record key; a link by the address or record key it carries (part 'link': the row
-- alone goes, nothing points at it).
CREATE OR REPLACE TABLE stage.purge_records AS
SELECT c.source, c.record, CASE WHEN c.link THEN 'link' ELSE 'record' END AS part
FROM _raw_contacts c
LEFT JOIN _raw_addresses a ON c.kind = 'email' AND a.value = c.value
WHERE c.kind <> 'record_key'
GROUP BY c.source, c.record, c.link
HAVING bool_or(coalesce(a.suppressed, false))
    OR (NOT c.link
        AND bool_or(c.kind = 'phone' AND c.value IN (SELECT value FROM _raw_phones_suppressed))
        AND NOT bool_or(coalesce(a.plausible, false)))
UNION
SELECT source, record, CASE WHEN link THEN 'link' ELSE 'record' END
FROM _raw_contacts
WHERE kind = 'record_key';

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
DROP TABLE _raw_addresses;
DROP TABLE _raw_phones;
DROP TABLE _raw_phones_suppressed;

-- What the purge drops, per source (counts only; links are not records of their own).
CREATE OR REPLACE TABLE stage.suppressed_by_source AS
SELECT source, count(*) AS records FROM stage.purge_records WHERE part = 'record'
GROUP BY source;
