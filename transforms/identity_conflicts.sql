-- Guard rail: a component holding two different emails AND two different mobiles AND two
-- different first names is more likely two people joined by a weak link than one person.
-- Its weakest probabilistic link is cut (recorded), then components are found again.

CREATE OR REPLACE TEMP TABLE _id_conflicts AS
SELECT
    l.label,
    count(*) AS records,
    count(DISTINCT r.email_key) AS emails,
    count(DISTINCT r.phone_key) FILTER (WHERE r.phone_type IS DISTINCT FROM 'landline') AS phones,
    count(DISTINCT r.given_key) AS names
FROM _id_labels l
JOIN _id_records r USING (record_key)
GROUP BY l.label
HAVING count(DISTINCT r.email_key) >= 2
   AND count(DISTINCT r.phone_key) FILTER (WHERE r.phone_type IS DISTINCT FROM 'landline') >= 2
   AND count(DISTINCT r.given_key) >= 2;

CREATE OR REPLACE TEMP TABLE _id_cut AS
SELECT a, b, match_probability, records, emails, phones, names
FROM (
    SELECT e.a, e.b, e.match_probability, c.records, c.emails, c.phones, c.names,
           row_number() OVER (PARTITION BY c.label ORDER BY e.match_probability, e.a, e.b) AS weakest
    FROM _id_edges e
    JOIN _id_labels l ON l.record_key = e.a
    JOIN _id_conflicts c USING (label)
    WHERE e.rule = 'probabilistic'
)
WHERE weakest = 1;

INSERT INTO _id_cuts SELECT * FROM _id_cut;

DELETE FROM _id_edges
USING _id_cut c
WHERE _id_edges.a = c.a AND _id_edges.b = c.b AND _id_edges.rule = 'probabilistic';
