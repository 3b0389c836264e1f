-- Who an erasure reaches: the people an email address belongs to and all their source
-- records. $hash: the SHA-256 (hex) of the address, trimmed and lower-cased. Nothing is deleted here.

-- Everyone the address belongs to: people whose golden record or any source record has it.
CREATE OR REPLACE TEMP TABLE _forget_people AS
SELECT DISTINCT person_id FROM (
    SELECT person_id FROM people WHERE sha256(lower(trim(email))) = $hash
    UNION ALL
    SELECT ps.person_id FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE sha256(s.email) = $hash OR sha256(lower(trim(s.email_raw))) = $hash
);

-- Every source record of those people, and any record carrying the address.
CREATE OR REPLACE TEMP TABLE _forget_records AS
SELECT DISTINCT source, source_record_id FROM (
    SELECT source, source_record_id FROM person_sources
    WHERE person_id IN (SELECT person_id FROM _forget_people)
    UNION ALL
    SELECT source, source_record_id FROM stg_source_records
    WHERE sha256(email) = $hash OR sha256(lower(trim(email_raw))) = $hash
);

CREATE OR REPLACE TEMP TABLE _forget_keys AS
SELECT source || ':' || source_record_id AS record_key FROM _forget_records;

-- Their phone numbers, to drop from the parse cache.
CREATE OR REPLACE TEMP TABLE _forget_phones AS
SELECT DISTINCT phone_raw FROM stg_source_records
WHERE source || ':' || source_record_id IN (SELECT record_key FROM _forget_keys)
  AND phone_raw IS NOT NULL;
