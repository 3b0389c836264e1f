-- step: erasure_find
-- reads: stg_source_records, person_sources, person_merges, people, person_registry,
--     erasure_email_hashes(), erasure_phone_text()
-- writes: stage.forget_people, stage.forget_person_ids, stage.forget_records,
--     stage.forget_keys, stage.forget_match_keys, stage.forget_phones
-- params: $hash, $phone_hash, $person_id
-- udfs: -

-- Who an erasure reaches: the people an identifier belongs to, all their source records,
-- and the match keys to suppress. Exactly one of these is given, the others are '' (which
-- matches nothing):
--   $hash: the SHA-256 (hex) of an address's match key (email_key in macros.sql: Gmail
--     dots, +tags and googlemail.com folded), or of the trimmed, lower-cased address; a
--     record or golden record carries the address when its address, as given or folded,
--     hashes to $hash;
--   $phone_hash: the SHA-256 (hex) of a phone's E.164 form, as staging keys it (phone_key);
--   $person_id: a person id, or one identity merged into another since.
-- Nothing is deleted here.

-- Everyone the identifier belongs to: people whose golden record or any source record has
-- it, or who are it.
CREATE OR REPLACE TABLE stage.forget_people AS
SELECT DISTINCT person_id FROM (
    SELECT person_id FROM people
    WHERE list_contains(erasure_email_hashes(email), $hash)
       OR sha256(phone) = $phone_hash
       OR person_id = $person_id
    UNION ALL
    SELECT ps.person_id FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE list_contains(erasure_email_hashes(s.email_raw), $hash)
       OR sha256(s.alt_email_key) = $hash  -- a form's second Email column
       OR sha256(s.phone_key) = $phone_hash
    UNION ALL
    -- An id the person had before identity merged them into another.
    SELECT m.new_person_id FROM person_merges m
    JOIN people p ON p.person_id = m.new_person_id
    WHERE m.old_person_id = $person_id
);

-- Their ids, and every id identity merged into one of theirs since: what organisers
-- recorded before a merge names the old id (erasure.sql, and the portal's store).
CREATE OR REPLACE TABLE stage.forget_person_ids AS
WITH RECURSIVE merged(person_id, depth) AS (
    SELECT person_id, 0 FROM stage.forget_people
    UNION ALL
    SELECT r.person_id, m.depth + 1 FROM person_registry r
    JOIN merged m ON r.merged_into = m.person_id
    WHERE m.depth < 32  -- bounds a (never expected) cycle
)
SELECT DISTINCT person_id FROM merged;

-- Every source record of those people, and any record carrying the address.
CREATE OR REPLACE TABLE stage.forget_records AS
SELECT DISTINCT source, source_record_id FROM (
    SELECT source, source_record_id FROM person_sources
    WHERE person_id IN (SELECT person_id FROM stage.forget_people)
    UNION ALL
    SELECT source, source_record_id FROM stg_source_records
    WHERE list_contains(erasure_email_hashes(email_raw), $hash)
       OR sha256(alt_email_key) = $hash
       OR sha256(phone_key) = $phone_hash
);

CREATE OR REPLACE TABLE stage.forget_keys AS
SELECT source || ':' || source_record_id AS record_key FROM stage.forget_records;

-- The hashes to keep: every email and phone match key staging gave their records
-- (placeholders have none, so a shared 'none@none.com' or '5555555555' is never
-- suppressed), every platform id they carry ('<platform>:<id>', their record keys:
-- their later actions point at these), and an address's hash as given, when not one of
-- them already (a phone's is always one of them: it is the hash of a phone_key).
CREATE OR REPLACE TABLE stage.forget_match_keys AS
WITH derived AS (
    SELECT DISTINCT 'email_key' AS kind, sha256(email_key) AS key_hash
    FROM stg_source_records
    WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
      AND email_key IS NOT NULL
    UNION
    SELECT DISTINCT 'email_key', sha256(alt_email_key)
    FROM stg_source_records
    WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
      AND alt_email_key IS NOT NULL
    UNION
    SELECT DISTINCT 'phone_key', sha256(phone_key)
    FROM stg_source_records
    WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
      AND phone_key IS NOT NULL
    UNION
    -- The deterministic name + postcode + street number key (identity_edges.sql), so a
    -- paper sheet with only their name and address does not bring them back.
    SELECT DISTINCT 'name_address',
           sha256(given_key || '|' || family_norm || '|' || postal_code || '|' || street_number)
    FROM stg_source_records
    WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
      AND given_key IS NOT NULL AND family_norm IS NOT NULL
      AND postal_code IS NOT NULL AND street_number IS NOT NULL
    UNION
    SELECT DISTINCT 'record_key', sha256(unnest(platform_ids))
    FROM stg_source_records
    WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
)
SELECT kind, key_hash FROM derived
UNION ALL
SELECT 'email', $hash WHERE $hash <> '' AND $hash NOT IN (SELECT key_hash FROM derived);

-- Their phone numbers, to drop from the parse cache (phone_parses): by E.164, and by the
-- text staging parsed for numbers with no E.164.
CREATE OR REPLACE TABLE stage.forget_phones AS
SELECT DISTINCT
    phone AS e164, erasure_phone_text(phone_raw) AS phone_text
FROM stg_source_records
WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys)
  AND phone_raw IS NOT NULL;
