-- Erasure of the people in _forget_people (erasure_find.sql) from the warehouse, run in
-- one transaction by erasure.py. $hash: the SHA-256 (hex) of the address, trimmed and lower-cased; $now.
-- Leaves only the SHA-256 of the address, in erasure_suppressions.

-- Raw landing: their records and everything that points at them.
DELETE FROM raw_action_network
WHERE record_id IN (SELECT source_record_id FROM _forget_records WHERE source = 'action_network')
   OR payload ->> '$."action_network:person_id"' IN (
        SELECT source_record_id FROM _forget_records WHERE source = 'action_network')
   OR payload ->> '$."groundswell:person_id"' IN (
        SELECT source_record_id FROM _forget_records WHERE source = 'action_network');
DELETE FROM raw_mailchimp
WHERE record_id IN (SELECT source_record_id FROM _forget_records WHERE source = 'mailchimp')
   OR payload ->> '$.email_id' IN (
        SELECT source_record_id FROM _forget_records WHERE source = 'mailchimp')
   OR sha256(lower(trim(payload ->> '$.email_address'))) = $hash;
DELETE FROM raw_forms
WHERE file_name || ':' || row_number IN (
    SELECT source_record_id FROM _forget_records WHERE source = 'forms');
DELETE FROM quarantine
WHERE list_contains(
    list_transform(
        regexp_extract_all(lower(CAST(payload AS VARCHAR)), '[^\s"'',;:<>()\[\]{}]+@[^\s"'',;:<>()\[\]{}]+'),
        lambda x: sha256(x)),
    $hash);
DELETE FROM phone_parses WHERE phone_text IN (SELECT phone_raw FROM _forget_phones);

-- Identity, engagement and outbound state.
DELETE FROM stg_source_records
WHERE source || ':' || source_record_id IN (SELECT record_key FROM _forget_keys);
DELETE FROM person_sources
WHERE person_id IN (SELECT person_id FROM _forget_people)
   OR source || ':' || source_record_id IN (SELECT record_key FROM _forget_keys);
DELETE FROM identity_links
WHERE record_a IN (SELECT record_key FROM _forget_keys)
   OR record_b IN (SELECT record_key FROM _forget_keys);
DELETE FROM identity_review
WHERE record_a IN (SELECT record_key FROM _forget_keys)
   OR record_b IN (SELECT record_key FROM _forget_keys)
   OR person_a IN (SELECT person_id FROM _forget_people)
   OR person_b IN (SELECT person_id FROM _forget_people);
DELETE FROM identity_conflicts
WHERE record_a IN (SELECT record_key FROM _forget_keys)
   OR record_b IN (SELECT record_key FROM _forget_keys);
DELETE FROM person_merges
WHERE old_person_id IN (SELECT person_id FROM _forget_people)
   OR new_person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM person_registry WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM people WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM activities WHERE person_id IN (SELECT person_id FROM _forget_people);
-- Others' actions they referred stay, without the link to them.
UPDATE activities SET referred_by_person_id = NULL
WHERE referred_by_person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM person_metrics WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM ladder WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM ladder_history WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM segment_members WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM sync_plan WHERE person_id IN (SELECT person_id FROM _forget_people);
DELETE FROM sync_ledger
WHERE person_id IN (SELECT person_id FROM _forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM _forget_keys);
DELETE FROM sync_rejections
WHERE person_id IN (SELECT person_id FROM _forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM _forget_keys);
DELETE FROM sync_batch_operations
WHERE person_id IN (SELECT person_id FROM _forget_people);

INSERT OR REPLACE INTO erasure_suppressions VALUES ($hash, $now);
