-- One round of connected components: take the smallest label among neighbours, then jump
-- to the label's own label (pointer jumping), so rounds grow with log(diameter).
CREATE OR REPLACE TEMP TABLE _id_labels_next AS
WITH hop AS (
    SELECT l.record_key, least(l.label, min(n.label)) AS label
    FROM _id_labels l
    LEFT JOIN _id_adjacent a ON a.record_key = l.record_key
    LEFT JOIN _id_labels n ON n.record_key = a.neighbour
    GROUP BY l.record_key, l.label
)
SELECT h.record_key, least(h.label, j.label) AS label
FROM hop h LEFT JOIN hop j ON j.record_key = h.label;
