-- step: identity_conflicts
-- reads: stage.id_records, stage.id_edges, stage.id_labels, stage.id_cuts
-- writes: stage.id_conflicts, stage.id_cut, stage.id_cuts, stage.id_edges
-- params: -
-- udfs: -

-- Guard rail: a component holding two different emails AND two different mobiles AND two
-- different first names is more likely two people joined by a weak link than one person.
-- Its weakest probabilistic link is cut (recorded), then components are found again.

CREATE OR REPLACE TABLE stage.id_conflicts AS
SELECT
    l.label,
    count(*) AS records,
    count(DISTINCT r.email_key) AS emails,
    count(DISTINCT r.phone_key) FILTER (WHERE r.phone_type IS DISTINCT FROM 'landline') AS phones,
    count(DISTINCT r.given_key) AS names
FROM stage.id_labels l
JOIN stage.id_records r USING (record_key)
GROUP BY l.label
HAVING count(DISTINCT r.email_key) >= 2
   AND count(DISTINCT r.phone_key) FILTER (WHERE r.phone_type IS DISTINCT FROM 'landline') >= 2
   AND count(DISTINCT r.given_key) >= 2;

CREATE OR REPLACE TABLE stage.id_cut AS
SELECT a, b, match_probability, records, emails, phones, names
FROM (
    SELECT e.a, e.b, e.match_probability, c.records, c.emails, c.phones, c.names,
           row_number() OVER (PARTITION BY c.label ORDER BY e.match_probability, e.a, e.b) AS weakest
    FROM stage.id_edges e
    JOIN stage.id_labels l ON l.record_key = e.a
    JOIN stage.id_conflicts c USING (label)
    WHERE e.rule = 'probabilistic'
)
WHERE weakest = 1;

INSERT INTO stage.id_cuts SELECT * FROM stage.id_cut;

DELETE FROM stage.id_edges
USING stage.id_cut c
WHERE stage.id_edges.a = c.a AND stage.id_edges.b = c.b AND stage.id_edges.rule = 'probabilistic';
