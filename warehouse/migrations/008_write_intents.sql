-- Every write Groundswell sends to a platform, recorded before it is sent and settled
-- after: a lost answer, a crash or a timeout leaves the write `intended` or `sent`, and
-- the next run reads the platform's state to settle it instead of sending it again.
CREATE TABLE sync_intents (
    destination   VARCHAR NOT NULL,          -- mailchimp, action_network
    request_key   VARCHAR NOT NULL,          -- one request (or one batch operation)
    member_key    VARCHAR NOT NULL,          -- the contact ('' for a tag definition)
    person_id     VARCHAR,
    item          VARCHAR NOT NULL,          -- the tag, field, 'member'
    kind          VARCHAR NOT NULL,          -- tag | field | member | tag_definition
    segment       VARCHAR,
    op            VARCHAR NOT NULL,          -- add | remove | set | create
    value         VARCHAR,                   -- a field's value; a new member's status_if_new
    remote_id     VARCHAR,                   -- tagging id, tag id, created person's id
    batch_key     VARCHAR,                   -- Mailchimp: the batch it travels in
    batch_id      VARCHAR,                   -- Mailchimp: that batch's id, once answered
    state         VARCHAR NOT NULL,          -- intended | sent | confirmed | failed
    run_id        VARCHAR NOT NULL,
    intended_at   TIMESTAMP NOT NULL,
    settled_at    TIMESTAMP,
    PRIMARY KEY (destination, request_key, item)
);

-- Batches sent by an earlier version and not yet read back now wait here.
INSERT INTO sync_intents
SELECT o.destination, o.batch_id || '.' || o.operation_id, o.member_key, o.person_id, o.item,
       o.kind, o.segment, o.op, o.value, NULL, o.batch_id, o.batch_id, 'sent', b.run_id,
       b.submitted_at, NULL
FROM sync_batch_operations o
JOIN sync_batches b USING (batch_id)
WHERE b.collected_at IS NULL;
DELETE FROM sync_batch_operations;

-- A tag of a plan that was sent passed the namespace check, so when it was planned it was
-- absent from the platform or already Groundswell's: if it exists now, a push of ours made
-- it (an earlier version recorded a new tag only after the platform's answer).
INSERT OR IGNORE INTO sync_managed_tags (destination, tag, created_at)
SELECT DISTINCT p.destination, p.item, CAST(current_timestamp AS TIMESTAMP)
FROM sync_plan p
WHERE p.kind = 'tag'
  AND EXISTS (SELECT 1 FROM sync_runs r
              WHERE r.run_id = p.run_id AND r.step = 'plan' AND r.status = 'planned');
