-- step: identity_assign
-- reads: stage.id_records, stage.id_edges, stage.id_rule_order, stage.id_labels,
--     stage.id_cuts, stage.id_conflicts, stage.id_decisions, stage.id_review,
--     person_registry, person_merges, person_sources, identity_links, identity_review,
--     identity_decisions, identity_conflicts
-- writes: person_registry, person_merges, person_sources, identity_links, identity_review,
--     identity_decisions, identity_conflicts, stage.id_assigned, stage.id_sources_written
-- params: $now
-- udfs: -

-- Give every component a person_id that survives from run to run.
-- $now: the run's timestamp.

-- Which earlier ids each component's records carried (retired ids are never revived).
CREATE OR REPLACE TEMP TABLE _id_claims AS
WITH prior AS (
    SELECT l.label, ps.person_id, min(coalesce(reg.created_at, ps.linked_at)) AS created_at,
           count(*) AS records
    FROM stage.id_labels l
    JOIN stage.id_records r USING (record_key)
    JOIN person_sources ps ON ps.source = r.source AND ps.source_record_id = r.source_record_id
    LEFT JOIN person_registry reg ON reg.person_id = ps.person_id
    WHERE reg.retired_at IS NULL
    GROUP BY l.label, ps.person_id
)
SELECT *,
    -- A component prefers its oldest id ...
    row_number() OVER (PARTITION BY label ORDER BY created_at, person_id) AS preference,
    -- ... and when a split leaves one id in several components, the one holding most of
    -- its records keeps it.
    row_number() OVER (PARTITION BY person_id ORDER BY records DESC, label) AS claim_rank
FROM prior;

CREATE OR REPLACE TABLE stage.id_assigned AS
WITH kept AS (
    SELECT label, arg_min(person_id, preference) AS person_id
    FROM _id_claims WHERE claim_rank = 1 GROUP BY label
), components AS (
    SELECT label, count(*) AS records FROM stage.id_labels GROUP BY label
), minted AS (
    SELECT c.label, k.person_id AS kept_id, 'p_' || substr(md5(c.label), 1, 16) AS fresh_id
    FROM components c LEFT JOIN kept k USING (label)
)
SELECT
    label,
    CASE
        WHEN kept_id IS NOT NULL THEN kept_id
        -- The same anchor can come back after a split: never reuse an issued id.
        WHEN fresh_id IN (SELECT person_id FROM person_registry)
            THEN 'p_' || substr(md5(label || ':' || CAST($now AS VARCHAR)), 1, 16)
        ELSE fresh_id
    END AS person_id,
    kept_id IS NULL AS is_new
FROM minted;

CREATE OR REPLACE TEMP TABLE _id_rules AS
SELECT l.label, string_agg(DISTINCT e.rule, '+' ORDER BY e.rule) AS rules
FROM stage.id_edges e JOIN stage.id_labels l ON l.record_key = e.a
GROUP BY l.label;

-- Each record's reason: the strongest rule that touches it.
CREATE OR REPLACE TEMP TABLE _id_record_rules AS
SELECT record_key, arg_min(e.rule, o.rank) AS rule
FROM (SELECT a AS record_key, rule FROM stage.id_edges UNION ALL SELECT b, rule FROM stage.id_edges) e
JOIN stage.id_rule_order o USING (rule)
GROUP BY record_key;

BEGIN TRANSACTION;

INSERT INTO person_registry (person_id, created_at)
SELECT person_id, $now FROM stage.id_assigned WHERE is_new;

-- Every id that stops being used is recorded with where its records went.
INSERT INTO person_merges
SELECT DISTINCT
    c.person_id,
    a.person_id,
    CASE WHEN c.claim_rank = 1 THEN 'merged' ELSE 'split' END
        || coalesce(' by ' || r.rules, ''),
    $now
FROM _id_claims c
JOIN stage.id_assigned a USING (label)
LEFT JOIN _id_rules r USING (label)
WHERE c.person_id <> a.person_id;

UPDATE person_registry AS reg
SET retired_at = $now, merged_into = m.new_person_id
FROM (
    SELECT c.person_id AS old_person_id, a.person_id AS new_person_id
    FROM _id_claims c JOIN stage.id_assigned a USING (label)
    WHERE c.claim_rank = 1 AND c.person_id <> a.person_id
) m
WHERE reg.person_id = m.old_person_id
  AND reg.person_id NOT IN (SELECT person_id FROM stage.id_assigned);

-- Only the links that changed are written: on a nightly run few do, and rewriting every
-- row (and the key index) cost more than finding them.
CREATE OR REPLACE TEMP TABLE _id_sources AS FROM person_sources LIMIT 0;
INSERT INTO _id_sources BY NAME
SELECT
    r.source,
    r.source_record_id,
    a.person_id,
    r.file_name,
    r.row_number,
    coalesce(rr.rule, 'single') AS match_rule,
    CASE WHEN prev.person_id = a.person_id THEN prev.linked_at ELSE $now END AS linked_at
FROM stage.id_records r
JOIN stage.id_labels l USING (record_key)
JOIN stage.id_assigned a USING (label)
LEFT JOIN _id_record_rules rr USING (record_key)
LEFT JOIN person_sources prev
    ON prev.source = r.source AND prev.source_record_id = r.source_record_id;

CREATE OR REPLACE TEMP TABLE _id_sources_changed AS FROM _id_sources EXCEPT FROM person_sources;
DELETE FROM person_sources ps
WHERE EXISTS (SELECT 1 FROM _id_sources_changed c
              WHERE c.source = ps.source AND c.source_record_id = ps.source_record_id)
   OR NOT EXISTS (SELECT 1 FROM _id_sources n
                  WHERE n.source = ps.source AND n.source_record_id = ps.source_record_id);
INSERT INTO person_sources FROM _id_sources_changed;
CREATE OR REPLACE TABLE stage.id_sources_written AS
SELECT count(*) AS rows_written FROM _id_sources_changed;
DROP TABLE _id_sources;
DROP TABLE _id_sources_changed;

DELETE FROM identity_links;
INSERT INTO identity_links (record_a, record_b, rule, match_probability)
SELECT a, b, rule, match_probability FROM stage.id_edges;

-- The review queue keeps when each pair was first queued.
CREATE OR REPLACE TEMP TABLE _id_review_before AS SELECT * FROM identity_review;
DELETE FROM identity_review;
INSERT INTO identity_review
SELECT r.a, r.b, pa.person_id, pb.person_id, r.match_probability, r.match_weight,
       coalesce(before.queued_at, $now)
FROM stage.id_review r
JOIN stage.id_labels la ON la.record_key = r.a JOIN stage.id_assigned pa ON pa.label = la.label
JOIN stage.id_labels lb ON lb.record_key = r.b JOIN stage.id_assigned pb ON pb.label = lb.label
LEFT JOIN _id_review_before before ON before.record_a = r.a AND before.record_b = r.b;

DELETE FROM identity_decisions;
INSERT INTO identity_decisions
SELECT a, b, decision, line_number, status, $now FROM stage.id_decisions;

DELETE FROM identity_conflicts;
INSERT INTO identity_conflicts
SELECT a, b, match_probability, records, emails, phones, names, 'split', $now FROM stage.id_cuts
UNION ALL
SELECT label, NULL, NULL, records, emails, phones, names, 'kept (deterministic links only)', $now
FROM stage.id_conflicts;

COMMIT;
