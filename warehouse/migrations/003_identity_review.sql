-- Identity resolution, explained and reviewable: probabilistic links carry their score,
-- grey-band pairs wait for a person's decision, guard rails record what they split.

ALTER TABLE identity_links ADD COLUMN match_probability DOUBLE;
ALTER TABLE people ADD COLUMN source_ids VARCHAR[];

-- Pairs the model was unsure of (between the review and link thresholds), undecided.
CREATE TABLE identity_review (
    record_a          VARCHAR NOT NULL,      -- source:source_record_id, the smaller
    record_b          VARCHAR NOT NULL,
    person_a          VARCHAR,
    person_b          VARCHAR,
    match_probability DOUBLE NOT NULL,
    match_weight      DOUBLE,
    queued_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (record_a, record_b)
);
-- The decisions file as last read, with what became of each line.
CREATE TABLE identity_decisions (
    record_a     VARCHAR NOT NULL,
    record_b     VARCHAR NOT NULL,
    decision     VARCHAR,                    -- accept | reject
    line_number  INTEGER,
    status       VARCHAR NOT NULL,           -- applied | unknown record | invalid decision
    read_at      TIMESTAMP NOT NULL
);
-- Components that would have joined people with conflicting strong identifiers.
CREATE TABLE identity_conflicts (
    record_a          VARCHAR NOT NULL,
    record_b          VARCHAR,
    match_probability DOUBLE,
    records           INTEGER,
    emails            INTEGER,
    phones            INTEGER,
    names             INTEGER,
    action            VARCHAR NOT NULL,      -- split | kept (deterministic links only)
    detected_at       TIMESTAMP NOT NULL
);
