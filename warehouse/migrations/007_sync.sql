-- Planned, diff-based pushes. The ledger now holds any item Groundswell manages on a
-- contact: a tag (state active | inactive) or a field (state = the value pushed), with
-- the segment it serves and, for Action Network taggings, the platform's tagging id.
CREATE TABLE sync_ledger_v2 (
    destination  VARCHAR NOT NULL,           -- mailchimp, action_network
    member_key   VARCHAR NOT NULL,           -- the platform's id for the contact
    item         VARCHAR NOT NULL,           -- the tag name, or the field name
    kind         VARCHAR NOT NULL,           -- tag | field
    segment      VARCHAR,                    -- tier:<rung>, list:<name>, field:<name>
    person_id    VARCHAR,
    state        VARCHAR NOT NULL,           -- tags: active | inactive; fields: the value
    remote_id    VARCHAR,                    -- Action Network tagging id, when known
    pushed_at    TIMESTAMP NOT NULL,
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (destination, member_key, item)
);
INSERT INTO sync_ledger_v2
SELECT destination, member_key, tag, 'tag',
       CASE WHEN tag LIKE '%tier:%' THEN 'tier:' || split_part(tag, 'tier:', 2) END,
       person_id, state, NULL, pushed_at, run_id
FROM sync_ledger;
DROP TABLE sync_ledger;
ALTER TABLE sync_ledger_v2 RENAME TO sync_ledger;

CREATE TABLE sync_rejections_v2 (
    destination  VARCHAR NOT NULL,
    member_key   VARCHAR NOT NULL,
    item         VARCHAR,                    -- the tag or field refused (NULL: the contact)
    kind         VARCHAR,
    segment      VARCHAR,
    person_id    VARCHAR,
    operation    VARCHAR NOT NULL,           -- add, remove, set, create
    status       INTEGER,
    title        VARCHAR,
    detail       VARCHAR,
    run_id       VARCHAR NOT NULL,
    rejected_at  TIMESTAMP NOT NULL
);
INSERT INTO sync_rejections_v2
SELECT destination, member_key, NULL, NULL, NULL, NULL, operation, status, title, detail,
       run_id, rejected_at
FROM sync_rejections;
DROP TABLE sync_rejections;
ALTER TABLE sync_rejections_v2 RENAME TO sync_rejections;

-- The current plan: one row per operation, replaced by every planning run.
CREATE TABLE sync_plan (
    destination  VARCHAR NOT NULL,
    member_key   VARCHAR NOT NULL,
    person_id    VARCHAR,
    item         VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,           -- tag | field | member
    segment      VARCHAR,
    op           VARCHAR NOT NULL,           -- add | remove | set | create
    value        VARCHAR,                    -- a field's value; a new member's status_if_new
    journeys     BOOLEAN NOT NULL DEFAULT false, -- Mailchimp: let this tag start journeys
    email        VARCHAR,                    -- the address a write by email uses
    remote_id    VARCHAR,                    -- Action Network tagging id for a removal
    run_id       VARCHAR NOT NULL
);

-- One row per planning or push step and destination: what was planned, sent, confirmed.
CREATE TABLE sync_runs (
    run_id        VARCHAR NOT NULL,
    destination   VARCHAR NOT NULL,          -- mailchimp, action_network, or 'plan'
    step          VARCHAR NOT NULL,          -- plan | push | forget
    status        VARCHAR NOT NULL,          -- planned, dry_run, stopped, ok, partial, failed
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    seconds       DOUBLE,
    adds          INTEGER DEFAULT 0,
    removes       INTEGER DEFAULT 0,
    sets          INTEGER DEFAULT 0,
    creates       INTEGER DEFAULT 0,
    unchanged     INTEGER DEFAULT 0,
    skipped_consent     INTEGER DEFAULT 0,
    skipped_not_member  INTEGER DEFAULT 0,
    skipped_rejected    INTEGER DEFAULT 0,
    people        INTEGER DEFAULT 0,
    requests      INTEGER DEFAULT 0,
    confirmed     INTEGER DEFAULT 0,
    rejected      INTEGER DEFAULT 0,
    message       VARCHAR,
    PRIMARY KEY (run_id, destination, step)
);

-- Tags Groundswell created or has pushed on a platform: what it manages.
CREATE TABLE sync_managed_tags (
    destination  VARCHAR NOT NULL,
    tag          VARCHAR NOT NULL,
    remote_id    VARCHAR,                    -- Action Network tag id
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (destination, tag)
);

-- Mailchimp batches sent and not yet read back: a killed run's next run collects them.
CREATE TABLE sync_batches (
    batch_id      VARCHAR NOT NULL PRIMARY KEY,
    destination   VARCHAR NOT NULL,
    run_id        VARCHAR NOT NULL,
    submitted_at  TIMESTAMP NOT NULL,
    operations    INTEGER NOT NULL,
    collected_at  TIMESTAMP
);
CREATE TABLE sync_batch_operations (
    batch_id      VARCHAR NOT NULL,
    operation_id  VARCHAR NOT NULL,
    destination   VARCHAR NOT NULL,
    member_key    VARCHAR NOT NULL,
    person_id     VARCHAR,
    item          VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    segment       VARCHAR,
    op            VARCHAR NOT NULL,
    value         VARCHAR
);

-- Erasure: all that is left of a forgotten person. The SHA-256 of the normalised email
-- address, so the address is never re-imported from a form or a platform.
CREATE TABLE erasure_suppressions (
    email_hash   VARCHAR PRIMARY KEY,
    erased_at    TIMESTAMP NOT NULL
);
