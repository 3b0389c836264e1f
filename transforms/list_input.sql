-- step: list_input
-- reads: stage.ladder_history_source, person_metrics, ladder
-- writes: stage.rung_30d_ago, stage.list_input
-- params: $now
-- udfs: -

-- What activation lists read: person_metrics, each person's rung now and the rung they
-- were on 30 days ago. $now: the run's time. `stage.ladder_history_source` is ladder_history
-- when it exists, else an empty relation of the same shape (segments.py makes it):
-- ladder_history(person_id, tier, tier_rank, computed_at), tier_rank 1 the top rung.
CREATE OR REPLACE TABLE stage.rung_30d_ago AS
SELECT person_id,
       arg_max(tier, computed_at) AS tier_30d_ago,
       arg_max(tier_rank, computed_at) AS tier_rank_30d_ago
FROM stage.ladder_history_source
WHERE computed_at <= $now - INTERVAL 30 DAY
GROUP BY person_id;

CREATE OR REPLACE VIEW stage.list_input AS
SELECT m.*,
       strftime(m.first_seen, '%Y-%m-%d') AS first_seen_date,
       strftime(m.last_action_at, '%Y-%m-%d') AS last_action_date,
       l.tier,
       l.tier_rank,
       h.tier_30d_ago,
       h.tier_rank_30d_ago
FROM person_metrics m
LEFT JOIN ladder l USING (person_id)
LEFT JOIN stage.rung_30d_ago h USING (person_id);
