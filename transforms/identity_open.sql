-- step: identity_open
-- reads: stage.id_labels, stage.id_records, stage.id_edges
-- writes: stage.id_open, stage.id_open_edges
-- params: -
-- udfs: -

-- The guard rail's first pass: the components that could hold conflicting identifiers
-- (two emails at least, which any conflict needs), with the keys it compares and every
-- link between their records. Later passes work on what is left of these alone.

CREATE OR REPLACE TABLE stage.id_open AS
WITH keyed AS (
    SELECT l.record_key, l.label, r.email_key, r.phone_key, r.phone_type, r.given_key
    FROM stage.id_labels l
    JOIN stage.id_records r USING (record_key)
)
SELECT * FROM keyed
WHERE label IN (SELECT label FROM keyed GROUP BY label HAVING count(DISTINCT email_key) >= 2);

CREATE OR REPLACE TABLE stage.id_open_edges AS
SELECT e.* FROM stage.id_edges e
WHERE e.a IN (SELECT record_key FROM stage.id_open);
