-- step: identity_conflicts
-- reads: stage.id_open, stage.id_open_edges, stage.id_conflicts, stage.id_cuts,
--     stage.id_edges
-- writes: stage.id_conflicts, stage.id_cut, stage.id_cuts, stage.id_edges, stage.id_open,
--     stage.id_open_edges
-- params: -
-- udfs: -

-- Guard rail: a component holding two different emails AND two different mobiles AND two
-- different first names is more likely two people joined by a weak link than one person.
-- Its weakest probabilistic link is cut (recorded), then components are found again.
-- Only the open components are checked (stage.id_open: identity_open.sql, then the ones
-- the pass before cut): any other never conflicted, or has no probabilistic link left to
-- cut and keeps its row here.

-- A component labelled anew keeps the smallest record key of the one it was cut from.
DELETE FROM stage.id_conflicts WHERE label IN (SELECT label FROM stage.id_open);

INSERT INTO stage.id_conflicts
SELECT
    label,
    count(*) AS records,
    count(DISTINCT email_key) AS emails,
    count(DISTINCT phone_key) FILTER (WHERE phone_type IS DISTINCT FROM 'landline') AS phones,
    count(DISTINCT given_key) AS names
FROM stage.id_open
GROUP BY label
HAVING count(DISTINCT email_key) >= 2
   AND count(DISTINCT phone_key) FILTER (WHERE phone_type IS DISTINCT FROM 'landline') >= 2
   AND count(DISTINCT given_key) >= 2;

CREATE OR REPLACE TABLE stage.id_cut AS
SELECT a, b, match_probability, records, emails, phones, names
FROM (
    SELECT e.a, e.b, e.match_probability, c.records, c.emails, c.phones, c.names,
           row_number() OVER (PARTITION BY c.label ORDER BY e.match_probability, e.a, e.b) AS weakest
    FROM stage.id_open_edges e
    JOIN stage.id_open o ON o.record_key = e.a
    JOIN stage.id_conflicts c USING (label)
    WHERE e.rule = 'probabilistic'
)
WHERE weakest = 1;

INSERT INTO stage.id_cuts SELECT * FROM stage.id_cut;

DELETE FROM stage.id_edges
USING stage.id_cut c
WHERE stage.id_edges.a = c.a AND stage.id_edges.b = c.b AND stage.id_edges.rule = 'probabilistic';

DELETE FROM stage.id_open_edges
USING stage.id_cut c
WHERE stage.id_open_edges.a = c.a AND stage.id_open_edges.b = c.b
  AND stage.id_open_edges.rule = 'probabilistic';

-- Only the components cut here can change: the next pass labels and checks them alone.
DELETE FROM stage.id_open
WHERE label NOT IN (SELECT o.label FROM stage.id_cut c JOIN stage.id_open o ON o.record_key = c.a);

DELETE FROM stage.id_open_edges
WHERE a NOT IN (SELECT record_key FROM stage.id_open);
