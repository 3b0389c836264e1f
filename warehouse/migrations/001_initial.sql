-- Raw landing: append-only, one row per record per fetch, payload exactly as received.
CREATE TABLE raw_action_network (
    resource     VARCHAR NOT NULL,           -- people, tags, ...
    record_id    VARCHAR NOT NULL,           -- the action_network: uuid
    modified_at  TIMESTAMP,                  -- the record's modified_date (UTC)
    payload      JSON NOT NULL,
    batch_id     VARCHAR NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);
CREATE TABLE raw_mailchimp (
    resource     VARCHAR NOT NULL,           -- members, ...
    record_id    VARCHAR NOT NULL,           -- member id: MD5 of the lowercased email
    modified_at  TIMESTAMP,                  -- last_changed (UTC)
    payload      JSON NOT NULL,
    batch_id     VARCHAR NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);
CREATE TABLE raw_forms (
    file_hash    VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    row_number   INTEGER NOT NULL,           -- 1-based data row, header excluded
    layout       VARCHAR NOT NULL,
    payload      JSON NOT NULL,              -- {"fields": canonical, "answers": every column}
    batch_id     VARCHAR NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);
CREATE TABLE form_files (
    file_hash    VARCHAR PRIMARY KEY,
    file_name    VARCHAR NOT NULL,
    layout       VARCHAR,
    encoding     VARCHAR,
    delimiter    VARCHAR,
    rows_loaded  INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL,
    status       VARCHAR NOT NULL,           -- loaded | skipped
    problem      VARCHAR,
    loaded_at    TIMESTAMP NOT NULL
);
-- Whatever could not load keeps its place here, with the reason.
CREATE TABLE quarantine (
    source       VARCHAR NOT NULL,
    file_name    VARCHAR,
    row_number   INTEGER,
    reason       VARCHAR NOT NULL,
    payload      JSON,
    batch_id     VARCHAR NOT NULL,
    recorded_at  TIMESTAMP NOT NULL
);
-- Incremental watermarks; advanced in the same transaction as the data they cover.
CREATE TABLE sync_cursors (
    source       VARCHAR NOT NULL,
    resource     VARCHAR NOT NULL,
    cursor_value VARCHAR NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (source, resource)
);

-- Typed, normalised: one row per source record (its latest version).
CREATE TABLE stg_source_records (
    source           VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    file_name        VARCHAR,
    row_number       INTEGER,
    given_name       VARCHAR,
    family_name      VARCHAR,
    email_raw        VARCHAR,
    email            VARCHAR,                -- trimmed, lower case: the address to send to
    email_key        VARCHAR,                -- match key: Gmail dots, +tags, googlemail folded
    phone_raw        VARCHAR,
    phone            VARCHAR,                -- E.164, when the number is possible
    address_line     VARCHAR,
    locality         VARCHAR,
    region           VARCHAR,
    postal_code      VARCHAR,
    email_status     VARCHAR,                -- subscribed, unsubscribed, cleaned, bouncing, ...
    phone_status     VARCHAR,
    platform_tags    VARCHAR[],
    created_at       TIMESTAMP,
    modified_at      TIMESTAMP,
    PRIMARY KEY (source, source_record_id)
);

-- Identity: every person_id ever issued, so a human keeps theirs from run to run.
CREATE TABLE person_registry (
    person_id    VARCHAR PRIMARY KEY,
    created_at   TIMESTAMP NOT NULL,
    retired_at   TIMESTAMP,
    merged_into  VARCHAR
);
CREATE TABLE person_sources (
    source           VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    person_id        VARCHAR NOT NULL,
    file_name        VARCHAR,
    row_number       INTEGER,
    match_rule       VARCHAR NOT NULL,       -- anchor, email, phone+name: why it joined
    linked_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (source, source_record_id)
);
-- The edges that joined records, so every merge can be explained.
CREATE TABLE identity_links (
    record_a     VARCHAR NOT NULL,
    record_b     VARCHAR NOT NULL,
    rule         VARCHAR NOT NULL
);
CREATE TABLE person_merges (
    old_person_id VARCHAR NOT NULL,
    new_person_id VARCHAR NOT NULL,
    rule          VARCHAR NOT NULL,
    merged_at     TIMESTAMP NOT NULL
);
CREATE TABLE people (
    person_id        VARCHAR PRIMARY KEY,
    given_name       VARCHAR,
    family_name      VARCHAR,
    email            VARCHAR,
    phone            VARCHAR,
    address_line     VARCHAR,
    locality         VARCHAR,
    region           VARCHAR,
    postal_code      VARCHAR,
    email_suppressed BOOLEAN NOT NULL,
    phone_suppressed BOOLEAN NOT NULL,
    email_reachable  BOOLEAN NOT NULL,
    phone_reachable  BOOLEAN NOT NULL,
    sources          VARCHAR[] NOT NULL,
    source_records   INTEGER NOT NULL,
    platform_tags    VARCHAR[] NOT NULL,
    first_seen       TIMESTAMP,
    last_seen        TIMESTAMP,
    created_at       TIMESTAMP NOT NULL
);

-- Engagement.
CREATE TABLE activities (
    person_id        VARCHAR NOT NULL,
    source           VARCHAR NOT NULL,
    source_record_id VARCHAR NOT NULL,
    activity_type    VARCHAR NOT NULL,
    occurred_at      TIMESTAMP,
    object           VARCHAR,
    channel          VARCHAR,
    amount           DECIMAL(12, 2),
    referred_by_person_id VARCHAR
);
CREATE TABLE person_metrics (
    person_id        VARCHAR PRIMARY KEY,
    given_name       VARCHAR,
    family_name      VARCHAR,
    email            VARCHAR,
    phone            VARCHAR,
    postal_code      VARCHAR,
    region           VARCHAR,
    first_seen       TIMESTAMP,
    first_source     VARCHAR,
    last_action_at   TIMESTAMP,
    actions_total    INTEGER NOT NULL,
    actions_30d      INTEGER NOT NULL,
    actions_90d      INTEGER NOT NULL,
    actions_365d     INTEGER NOT NULL,
    form_submissions INTEGER NOT NULL,
    days_since_joined INTEGER,
    email_reachable  BOOLEAN NOT NULL,
    phone_reachable  BOOLEAN NOT NULL,
    email_suppressed BOOLEAN NOT NULL,
    phone_suppressed BOOLEAN NOT NULL,
    platform_tags    VARCHAR[] NOT NULL,
    as_of            TIMESTAMP NOT NULL
);
CREATE TABLE ladder (
    person_id    VARCHAR PRIMARY KEY,
    tier         VARCHAR NOT NULL,
    tier_rank    INTEGER NOT NULL,           -- 1 is the top rung
    reason       VARCHAR NOT NULL,
    computed_at  TIMESTAMP NOT NULL
);
CREATE TABLE segment_members (
    segment      VARCHAR NOT NULL,           -- tier:<rung> or list:<name>
    person_id    VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (segment, person_id)
);

-- Outbound: what the platforms confirmed, and what they refused.
CREATE TABLE sync_ledger (
    destination  VARCHAR NOT NULL,           -- mailchimp, action_network
    member_key   VARCHAR NOT NULL,           -- the platform's id for the contact
    tag          VARCHAR NOT NULL,
    person_id    VARCHAR,
    state        VARCHAR NOT NULL,           -- active | inactive
    pushed_at    TIMESTAMP NOT NULL,
    run_id       VARCHAR NOT NULL,
    PRIMARY KEY (destination, member_key, tag)
);
CREATE TABLE sync_rejections (
    destination  VARCHAR NOT NULL,
    member_key   VARCHAR NOT NULL,
    operation    VARCHAR NOT NULL,
    status       INTEGER,
    title        VARCHAR,
    detail       VARCHAR,
    run_id       VARCHAR NOT NULL,
    rejected_at  TIMESTAMP NOT NULL
);
