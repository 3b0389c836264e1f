-- step: erasure
-- reads: stage.forget_people, stage.forget_person_ids, stage.forget_records,
--     stage.forget_keys, stage.forget_match_keys, stage.forget_phones
-- writes: stage.purge_records, phone_parses, stg_source_records, person_sources,
--     identity_links, identity_review, identity_decisions, identity_conflicts,
--     missing_records, person_merges, person_registry, people, activities, person_metrics,
--     ladder, ladder_history, segment_members, list_history, team_members, sync_plan,
--     sync_ledger, sync_rejections, sync_batch_operations, sync_intents,
--     erasure_suppressions, organiser_outcomes
-- params: $now
-- udfs: -

-- Erasure of the people in stage.forget_people (erasure_find.sql) from the warehouse, run in
-- one transaction by erasure.py, which then runs suppressed.sql to drop any other landed
-- record carrying one of their keys. $now. Leaves only the SHA-256 of their match keys
-- (stage.forget_match_keys), in erasure_suppressions.

-- Raw landing: their records and everything that points at them, deleted next by each
-- platform's purge.sql (transforms/erasure.py runs them in this transaction).
CREATE OR REPLACE TABLE stage.purge_records AS
SELECT source, source_record_id AS record, 'forgotten' AS part FROM stage.forget_records;
-- The phone parse cache, at once: by number, whatever its format (quarantined rows and
-- raw rows carrying their addresses go in suppressed.sql, run next).
DELETE FROM phone_parses
WHERE e164 IN (SELECT e164 FROM stage.forget_phones WHERE e164 IS NOT NULL)
   OR phone_text IN (SELECT phone_text FROM stage.forget_phones);

-- Identity, engagement and outbound state.
DELETE FROM stg_source_records
WHERE source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM person_sources
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR source || ':' || source_record_id IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM identity_links
WHERE record_a IN (SELECT record_key FROM stage.forget_keys)
   OR record_b IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM identity_review
WHERE record_a IN (SELECT record_key FROM stage.forget_keys)
   OR record_b IN (SELECT record_key FROM stage.forget_keys)
   OR person_a IN (SELECT person_id FROM stage.forget_people)
   OR person_b IN (SELECT person_id FROM stage.forget_people);
DELETE FROM identity_conflicts
WHERE record_a IN (SELECT record_key FROM stage.forget_keys)
   OR record_b IN (SELECT record_key FROM stage.forget_keys);
-- Review decisions name record keys (some platforms' keys are a hash of the address).
DELETE FROM identity_decisions
WHERE record_a IN (SELECT record_key FROM stage.forget_keys)
   OR record_b IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM missing_records
WHERE source || ':' || record_id IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM person_merges
WHERE old_person_id IN (SELECT person_id FROM stage.forget_people)
   OR new_person_id IN (SELECT person_id FROM stage.forget_people);
-- What organisers recorded about them, also under an id identity merged into theirs since.
DELETE FROM organiser_outcomes
WHERE person_id IN (SELECT person_id FROM stage.forget_person_ids);
DELETE FROM person_registry WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM people WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM activities WHERE person_id IN (SELECT person_id FROM stage.forget_people);
-- Others' actions they referred stay, without the link to them.
UPDATE activities SET referred_by_person_id = NULL
WHERE referred_by_person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM person_metrics WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM ladder WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM ladder_history WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM segment_members WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM list_history WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM team_members WHERE person_id IN (SELECT person_id FROM stage.forget_people);
DELETE FROM sync_plan
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM sync_ledger
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM sync_rejections
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM sync_batch_operations
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM stage.forget_keys);
DELETE FROM sync_intents
WHERE person_id IN (SELECT person_id FROM stage.forget_people)
   OR destination || ':' || member_key IN (SELECT record_key FROM stage.forget_keys);

INSERT OR REPLACE INTO erasure_suppressions (key_hash, kind, erased_at)
SELECT key_hash, kind, $now FROM stage.forget_match_keys;
