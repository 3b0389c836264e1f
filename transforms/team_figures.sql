-- step: team_figures
-- reads: teams, team_members, ladder_history, stage.ladder_rungs
-- writes: team_ladder, team_movement
-- params: -
-- udfs: -

-- Per-team figures, counts only: people per rung (team_ladder) and the movement of the
-- team's current members (team_movement), as ladder_movement.sql counts it for everyone:
-- their rung in the latest run of ladder_history against the run before it (last_run) and
-- the latest run at or before 7, 30 and 90 days earlier (7d: the portal's "since last
-- week"; the portal's snapshot sums these rows per team, so there is one definition). A member not on the ladder at the
-- baseline has `arrived`; there is no `left`, since only current members are counted.
-- stage.ladder_rungs (rung, tier_rank): the configured rungs (step ladder_rungs), so an
-- empty rung still shows. Run by transforms/teams.py inside its transaction.
CREATE OR REPLACE TEMP TABLE _team_history AS
SELECT tm.team, h.computed_at, h.person_id, h.tier, h.tier_rank
FROM team_members tm
JOIN ladder_history h USING (person_id);

CREATE OR REPLACE TEMP TABLE _team_runs AS
WITH cur_run AS (
    SELECT max(computed_at) AS run_at FROM ladder_history
)
SELECT 'last_run' AS period,
       (SELECT max(computed_at) FROM ladder_history, cur_run WHERE computed_at < cur_run.run_at)
           AS baseline_at,
       (SELECT run_at FROM cur_run) AS run_at
UNION ALL
SELECT '7d', (SELECT max(computed_at) FROM ladder_history, cur_run
              WHERE computed_at <= cur_run.run_at - INTERVAL 7 DAY), (SELECT run_at FROM cur_run)
UNION ALL
SELECT '30d', (SELECT max(computed_at) FROM ladder_history, cur_run
               WHERE computed_at <= cur_run.run_at - INTERVAL 30 DAY), (SELECT run_at FROM cur_run)
UNION ALL
SELECT '90d', (SELECT max(computed_at) FROM ladder_history, cur_run
               WHERE computed_at <= cur_run.run_at - INTERVAL 90 DAY), (SELECT run_at FROM cur_run);

-- The configured rungs for every team, plus any rung only history still names (since removed).
CREATE OR REPLACE TEMP TABLE _team_rungs AS
SELECT t.team, r.rung, r.tier_rank
FROM teams t CROSS JOIN stage.ladder_rungs r
UNION
SELECT DISTINCT h.team, h.tier, NULL
FROM _team_history h
WHERE h.tier NOT IN (SELECT rung FROM stage.ladder_rungs);

DELETE FROM team_ladder;

INSERT INTO team_ladder BY NAME
SELECT r.team, r.rung, r.tier_rank, coalesce(n.people, 0) AS people, runs.run_at AS computed_at
FROM _team_rungs r
CROSS JOIN (SELECT DISTINCT run_at FROM _team_runs WHERE run_at IS NOT NULL) runs
LEFT JOIN (
    SELECT h.team, h.tier, count(*)::INTEGER AS people
    FROM _team_history h
    WHERE h.computed_at = (SELECT max(run_at) FROM _team_runs)
    GROUP BY ALL
) n ON n.team = r.team AND n.tier = r.rung;

DELETE FROM team_movement;

INSERT INTO team_movement BY NAME
WITH cur AS (
    SELECT h.team, h.person_id, h.tier, h.tier_rank
    FROM _team_history h
    WHERE h.computed_at = (SELECT max(run_at) FROM _team_runs)
), moves AS (
    -- Each current member, with their rung at each period's baseline (NULL: not there).
    SELECT p.period, c.team, b.tier AS was_tier, b.tier_rank AS was_rank,
           c.tier AS now_tier, c.tier_rank AS now_rank
    FROM _team_runs p
    JOIN cur c ON p.baseline_at IS NOT NULL
    LEFT JOIN _team_history b
           ON b.computed_at = p.baseline_at AND b.team = c.team AND b.person_id = c.person_id
), from_rung AS (
    SELECT period, team, was_tier AS rung,
           count(*) AS was,
           count(*) FILTER (WHERE now_tier = was_tier) AS stayed,
           count(*) FILTER (WHERE now_rank < was_rank) AS moved_up,
           count(*) FILTER (WHERE now_rank > was_rank) AS moved_down
    FROM moves
    WHERE was_tier IS NOT NULL
    GROUP BY ALL
), to_rung AS (
    SELECT period, team, now_tier AS rung,
           count(*) FILTER (WHERE was_tier IS NULL) AS arrived
    FROM moves
    GROUP BY ALL
), now_counts AS (
    SELECT team, tier AS rung, count(*) AS now FROM cur GROUP BY ALL
)
SELECT r.team,
       p.period,
       p.baseline_at,
       p.run_at AS computed_at,
       r.rung,
       r.tier_rank,
       coalesce(f.was, 0) AS was,
       coalesce(n.now, 0) AS now,
       coalesce(f.stayed, 0) AS stayed,
       coalesce(f.moved_up, 0) AS moved_up,
       coalesce(f.moved_down, 0) AS moved_down,
       coalesce(t.arrived, 0) AS arrived,
       CASE WHEN coalesce(f.was, 0) > 0 THEN round(f.moved_up / f.was, 4) END AS conversion
FROM _team_runs p
CROSS JOIN _team_rungs r
LEFT JOIN from_rung f ON f.period = p.period AND f.team = r.team AND f.rung = r.rung
LEFT JOIN to_rung t ON t.period = p.period AND t.team = r.team AND t.rung = r.rung
LEFT JOIN now_counts n ON n.team = r.team AND n.rung = r.rung
WHERE p.run_at IS NOT NULL;
