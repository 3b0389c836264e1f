-- Start connected components over _id_edges: every record its own label.
CREATE OR REPLACE TEMP TABLE _id_adjacent AS
SELECT a AS record_key, b AS neighbour FROM _id_edges
UNION ALL
SELECT b, a FROM _id_edges;

CREATE OR REPLACE TEMP TABLE _id_labels AS
SELECT record_key, record_key AS label FROM _id_records;
