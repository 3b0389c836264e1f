-- step: destination_mailchimp
-- reads: raw_mailchimp, utc_ts()
-- writes: stage.destination_seen_mailchimp, stage.destination_tags_mailchimp,
--     stage.destination_fields_mailchimp
-- params: -
-- udfs: -

-- What the Mailchimp audience held when it was last read, in the columns every
-- destination gives (transforms/destinations.py); the sync plan compares it with the
-- ledger. Views: they cost nothing until the plan reads them.

-- The newest copy of each member: its tags (the whole set, as of that copy), merge fields
-- and opt-in time. `seen_at` is when the copy was landed: landing and pushing share the
-- `warehouse` pool, so no push confirms anything between a read and its landing. A tag
-- change alone does not move a member's last_changed, so the incremental pull re-reads a
-- member only when something else about them changed (a field, their status, an import
-- or a restore).
CREATE OR REPLACE VIEW stage.destination_seen_mailchimp AS
SELECT 'mailchimp' AS destination, record_id AS member_key, loaded_at AS seen_at,
       coalesce(list_transform(from_json(payload -> '$.tags', '[{"name":"VARCHAR"}]'),
                               lambda t: t.name), []) AS tags,
       payload -> '$.merge_fields' AS fields,
       utc_ts(payload ->> '$.timestamp_opt') AS opted_in_at
FROM raw_mailchimp
WHERE resource = 'members'
QUALIFY row_number() OVER (
    PARTITION BY record_id ORDER BY loaded_at DESC, modified_at DESC NULLS LAST) = 1;

-- Every tag the audience has (the namespace check: a tag Groundswell does not manage).
CREATE OR REPLACE VIEW stage.destination_tags_mailchimp AS
SELECT 'mailchimp' AS destination, payload ->> '$.name' AS tag
FROM raw_mailchimp
WHERE resource = 'tags';

-- The audience's merge fields (the tier merge field must be one of them).
CREATE OR REPLACE VIEW stage.destination_fields_mailchimp AS
SELECT 'mailchimp' AS destination, payload ->> '$.tag' AS field
FROM raw_mailchimp
WHERE resource = 'merge_fields';
