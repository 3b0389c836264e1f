-- step: identity_review
-- reads: stage.id_decisions, stage.id_labels, stage.id_scored
-- writes: stage.id_review
-- params: $link
-- udfs: -

-- Grey-band pairs (between the review and link thresholds) that nothing else joined and
-- nobody has decided yet: the review queue.
CREATE OR REPLACE TABLE stage.id_review AS
SELECT s.a, s.b, s.match_weight, s.match_probability
FROM stage.id_scored s
JOIN stage.id_labels la ON la.record_key = s.a
JOIN stage.id_labels lb ON lb.record_key = s.b
LEFT JOIN stage.id_decisions d ON d.a = s.a AND d.b = s.b AND d.status = 'applied'
WHERE s.match_probability < $link
  AND la.label <> lb.label
  AND d.a IS NULL;
