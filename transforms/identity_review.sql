-- Grey-band pairs (between the review and link thresholds) that nothing else joined and
-- nobody has decided yet: the review queue.
CREATE OR REPLACE TEMP TABLE _id_review AS
SELECT s.a, s.b, s.match_weight, s.match_probability
FROM _id_scored s
JOIN _id_labels la ON la.record_key = s.a
JOIN _id_labels lb ON lb.record_key = s.b
LEFT JOIN _id_decisions d ON d.a = s.a AND d.b = s.b AND d.status = 'applied'
WHERE s.match_probability < $link
  AND la.label <> lb.label
  AND d.a IS NULL;
