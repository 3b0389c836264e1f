-- step: destination_action_network
-- reads: raw_action_network, sync_cursors, person_sources, stg_source_records,
--     current_taggings()
-- writes: stage.destination_seen_action_network, stage.taggings_read_action_network,
--     stage.destination_taggings_action_network, stage.destination_tag_reads_action_network,
--     stage.destination_tags_action_network
-- params: -
-- udfs: -

-- What Action Network held when it was last read, in the columns every destination gives
-- (transforms/destinations.py); the sync plan compares it with the ledger. Views: they cost
-- nothing until the plan reads them.

-- Its people: the newest copy of each, with its custom fields (the referral code field).
-- Their tags are not on the copy: they come from the taggings read below.
CREATE OR REPLACE VIEW stage.destination_seen_action_network AS
SELECT 'action_network' AS destination, record_id AS member_key, loaded_at AS seen_at,
       NULL::VARCHAR[] AS tags, payload -> '$.custom_fields' AS fields,
       NULL::TIMESTAMP AS opted_in_at
FROM raw_action_network
WHERE resource = 'people'
QUALIFY row_number() OVER (
    PARTITION BY record_id ORDER BY loaded_at DESC, modified_at DESC NULLS LAST) = 1;

-- Taggings are known only from the last complete read of every tag's taggings: when it
-- was landed (NULL: never read completely, so nothing is inferred).
CREATE OR REPLACE VIEW stage.taggings_read_action_network AS
SELECT min(loaded_at) AS seen_at
FROM raw_action_network
WHERE resource IN ('tags', 'taggings')
  AND batch_id = (SELECT cursor_value FROM sync_cursors
                  WHERE source = 'action_network' AND resource = 'taggings#current_batch');

-- The tags each person carried in that read, with each tagging's id (a removal by tagging
-- needs it).
CREATE OR REPLACE VIEW stage.destination_taggings_action_network AS
SELECT 'action_network' AS destination, person_uuid AS member_key, tag,
       (SELECT seen_at FROM stage.taggings_read_action_network) AS seen_at,
       tagging_id AS remote_id
FROM current_taggings();

-- That read saw the whole set of tags of every person staged from Action Network.
CREATE OR REPLACE VIEW stage.destination_tag_reads_action_network AS
SELECT 'action_network' AS destination, s.source_record_id AS member_key, r.seen_at
FROM person_sources ps
JOIN stg_source_records s USING (source, source_record_id)
CROSS JOIN stage.taggings_read_action_network r
WHERE s.source = 'action_network' AND r.seen_at IS NOT NULL;

-- Every tag it has (the namespace check: a tag Groundswell does not manage).
CREATE OR REPLACE VIEW stage.destination_tags_action_network AS
SELECT 'action_network' AS destination, payload ->> '$.name' AS tag
FROM raw_action_network
WHERE resource = 'tags';
