-- step: purge_action_network
-- reads: stage.purge_records, erasure_suppressions
-- writes: raw_action_network
-- params: $since
-- udfs: -

-- Action Network's part of erasure and the suppression purge (transforms/erasure.py): its
-- raw rows of the records in stage.purge_records, and the rows that point at them (an
-- activist's actions and taggings name them by person id), wherever they were landed.
--   part 'record': an activist landed again though suppressed: their versions, and (only
--     when one was dropped, the rest are never parsed) every row that names them;
--   part 'forgotten': an activist erased now: every row carrying their id anywhere (only
--     when there is one: the purge of every staging run has none);
--   $since: rows landed after it that name a suppressed activist's record key are dropped
--     too (NULL: every row; the latest landing: none, only the named records go).
DELETE FROM raw_action_network
WHERE (resource = 'people'
       AND record_id IN (SELECT record FROM stage.purge_records
                         WHERE source = 'action_network' AND part = 'record'))
   OR ((SELECT count(*) FROM stage.purge_records
        WHERE source = 'action_network' AND part = 'record') > 0
       AND resource <> 'people'
       AND coalesce(payload ->> '$."action_network:person_id"',
                    payload ->> '$."groundswell:person_id"') IN (
           SELECT record FROM stage.purge_records
           WHERE source = 'action_network' AND part = 'record'))
   OR (($since IS NULL OR loaded_at > $since) AND resource <> 'people'
       AND sha256('action_network:' || coalesce(payload ->> '$."action_network:person_id"',
                                                 payload ->> '$."groundswell:person_id"'))
           IN (SELECT key_hash FROM erasure_suppressions WHERE kind = 'record_key'))
   OR ((SELECT count(*) FROM stage.purge_records
        WHERE source = 'action_network' AND part = 'forgotten') > 0
       AND (record_id IN (SELECT record FROM stage.purge_records
                          WHERE source = 'action_network' AND part = 'forgotten')
            OR payload ->> '$."action_network:person_id"' IN (
                SELECT record FROM stage.purge_records
                WHERE source = 'action_network' AND part = 'forgotten')
            OR payload ->> '$."groundswell:person_id"' IN (
                SELECT record FROM stage.purge_records
                WHERE source = 'action_network' AND part = 'forgotten')));
