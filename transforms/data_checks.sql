-- The harm measures of one run (pipelines/checks.py, and the sync plan's guard rails):
-- people now against the last run before this one started, people merged into another
-- since it started, and people on both ladders whose rung changed. $started is the run's
-- start (UTC); ladder_history holds each earlier run's ladder (pruned, always keeping the
-- two latest runs).
WITH before_run AS (
    SELECT max(computed_at) AS run_at FROM ladder_history WHERE computed_at < $started
),
previous AS (
    SELECT h.person_id, h.tier
    FROM ladder_history h, before_run b
    WHERE h.computed_at = b.run_at
),
latest AS (
    SELECT max(computed_at) AS run_at FROM ladder_history WHERE computed_at >= $started
),
current_ladder AS (
    SELECT h.person_id, h.tier
    FROM ladder_history h, latest l
    WHERE h.computed_at = l.run_at
)
SELECT
    (SELECT run_at FROM before_run) AS previous_run_at,
    (SELECT count(*) FROM previous) AS people_before,
    (SELECT count(*) FROM people) AS people_now,
    (SELECT count(DISTINCT old_person_id) FROM person_merges
     WHERE merged_at >= $started AND rule LIKE 'merged%') AS merged,
    (SELECT count(*) > 0 FROM current_ladder) AS ladder_built,
    (SELECT count(*) FROM previous p JOIN current_ladder c USING (person_id)
     WHERE p.tier <> c.tier) AS rung_changed;
