-- step: ladder_movement
-- reads: ladder_history, stage.ladder_rungs
-- writes: ladder_movement
-- params: -
-- udfs: -

-- Movement on the ladder: the latest run in ladder_history compared with three baselines,
-- the run before it (last_run), and the latest run at or before 30 and 90 days earlier
-- (30d, 90d). Per rung, counted on the rung people WERE on: stayed, moved_up (to a higher
-- rung: the rung's next ask converted), moved_down (a person no rung places is on
-- `unplaced`, below the bottom rung), left (no longer in the warehouse: erased or merged);
-- and on the rung they are on NOW: arrived (not on the ladder at the baseline). conversion is
-- moved_up / was. A period with no baseline run yet has NULL baseline_at and zero moves.
-- stage.ladder_rungs (rung, tier_rank): the configured rungs, so an empty rung still shows, and
-- `unplaced` once anyone has been on it.
CREATE OR REPLACE TEMP TABLE _movement_rows AS
WITH cur_run AS (
    SELECT max(computed_at) AS run_at FROM ladder_history
), periods AS (
    SELECT 'last_run' AS period,
           (SELECT max(computed_at) FROM ladder_history, cur_run WHERE computed_at < cur_run.run_at)
               AS baseline_at
    UNION ALL
    SELECT '30d', (SELECT max(computed_at) FROM ladder_history, cur_run
                   WHERE computed_at <= cur_run.run_at - INTERVAL 30 DAY)
    UNION ALL
    SELECT '90d', (SELECT max(computed_at) FROM ladder_history, cur_run
                   WHERE computed_at <= cur_run.run_at - INTERVAL 90 DAY)
), cur AS (
    SELECT h.person_id, h.tier, h.tier_rank
    FROM ladder_history h, cur_run
    WHERE h.computed_at = cur_run.run_at
), base AS (
    SELECT p.period, h.person_id, h.tier, h.tier_rank
    FROM periods p
    JOIN ladder_history h ON h.computed_at = p.baseline_at
), moves AS (
    -- Each person present at the baseline, now, or both, for every period with a baseline.
    SELECT p.period, b.tier AS was_tier, b.tier_rank AS was_rank,
           c.tier AS now_tier, c.tier_rank AS now_rank
    FROM periods p
    JOIN base b ON b.period = p.period
    LEFT JOIN cur c ON c.person_id = b.person_id
    UNION ALL
    SELECT p.period, NULL, NULL, c.tier, c.tier_rank
    FROM periods p, cur c
    WHERE p.baseline_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM base b WHERE b.period = p.period AND b.person_id = c.person_id)
), from_rung AS (
    SELECT period, was_tier AS rung,
           count(*) AS was,
           count(*) FILTER (WHERE now_tier = was_tier) AS stayed,
           count(*) FILTER (WHERE now_rank < was_rank) AS moved_up,
           count(*) FILTER (WHERE now_rank > was_rank) AS moved_down,
           count(*) FILTER (WHERE now_tier IS NULL) AS "left"
    FROM moves
    WHERE was_tier IS NOT NULL
    GROUP BY ALL
), to_rung AS (
    SELECT period, now_tier AS rung,
           count(*) FILTER (WHERE was_tier IS NULL) AS arrived
    FROM moves
    WHERE now_tier IS NOT NULL
    GROUP BY ALL
), now_counts AS (
    SELECT tier AS rung, count(*) AS now FROM cur GROUP BY tier
), rungs AS (
    -- The configured rungs, plus any rung only history still names (a rung since removed).
    SELECT rung, tier_rank FROM stage.ladder_rungs
    UNION ALL
    SELECT DISTINCT tier, NULL FROM base WHERE tier NOT IN (SELECT rung FROM stage.ladder_rungs)
)
SELECT
    p.period,
    p.baseline_at,
    (SELECT run_at FROM cur_run) AS computed_at,
    r.rung,
    r.tier_rank,
    coalesce(f.was, 0) AS was,
    coalesce(n.now, 0) AS now,
    coalesce(f.stayed, 0) AS stayed,
    coalesce(f.moved_up, 0) AS moved_up,
    coalesce(f.moved_down, 0) AS moved_down,
    coalesce(f."left", 0) AS "left",
    coalesce(t.arrived, 0) AS arrived,
    CASE WHEN coalesce(f.was, 0) > 0 THEN round(f.moved_up / f.was, 4) END AS conversion
FROM periods p
CROSS JOIN rungs r
LEFT JOIN from_rung f ON f.period = p.period AND f.rung = r.rung
LEFT JOIN to_rung t ON t.period = p.period AND t.rung = r.rung
LEFT JOIN now_counts n ON n.rung = r.rung
WHERE (SELECT run_at FROM cur_run) IS NOT NULL;

DELETE FROM ladder_movement;

INSERT INTO ladder_movement BY NAME SELECT * FROM _movement_rows;
