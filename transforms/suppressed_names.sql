-- step: suppressed_names
-- reads: stg_source_records, erasure_suppressions
-- writes: stage.suppressed_names_by_source, erasure_suppressions, stage.purge_records
-- params: $now
-- udfs: -

-- Forgotten people who come back under their name and address only (a typed-up paper
-- sheet, a new platform record): staged records whose name + postcode + street number key
-- (the deterministic identity rule's key, hashed as erasure_find.sql keeps it) is
-- suppressed. Run after staging; normalise.py then drops them as suppressed.sql drops the
-- rest: a record with a record key of its own (in its platform_ids) by that key from now
-- on, any other (a form row) at once, by its platform's purge.sql (stage.purge_records).
CREATE OR REPLACE TEMP TABLE _suppressed_names AS
SELECT source, source_record_id,
       coalesce(list_contains(platform_ids, source || ':' || source_record_id), false) AS keyed
FROM stg_source_records
WHERE given_key IS NOT NULL AND family_norm IS NOT NULL
  AND postal_code IS NOT NULL AND street_number IS NOT NULL
  AND sha256(given_key || '|' || family_norm || '|' || postal_code || '|' || street_number)
      IN (SELECT key_hash FROM erasure_suppressions WHERE kind = 'name_address');

INSERT OR REPLACE INTO erasure_suppressions (key_hash, kind, erased_at)
SELECT sha256(source || ':' || source_record_id), 'record_key', $now
FROM _suppressed_names
WHERE keyed;

CREATE OR REPLACE TABLE stage.purge_records AS
SELECT source, source_record_id AS record, 'record' AS part
FROM _suppressed_names
WHERE NOT keyed;

-- What was found, per source (counts only).
CREATE OR REPLACE TABLE stage.suppressed_names_by_source AS
SELECT source, count(*) AS records FROM _suppressed_names GROUP BY source;
DROP TABLE _suppressed_names;
