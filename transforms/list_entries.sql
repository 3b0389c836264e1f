-- step: list_entries
-- reads: list_history, ladder_history, activities
-- writes: stage.list_entries, stage.list_controls, stage.success_input
-- params: $now
-- udfs: -

-- Who entered each list, and whom to compare them with, for "which asks work"
-- (transforms/ask_conversion.py). $now: the run's time.
--
-- An entry: a person on a list at a run (list_history) who was not on it at the run before
-- (at the first run ever, everyone on it enters). Kept: entries in the last 90 days (the
-- longest period), each with the rung the person was on when they entered (ladder_history:
-- the ladder is built just before the lists in the same run).
-- A control: for each list and period, a person who, at the first run of the period, was
-- on a rung that someone entering the list in the period came from, and was not on the
-- list at that run. Their start is that run.
-- stage.success_input: the activities a success rule may count: those people's, since the
-- earliest start (success rules run over it in the config sandbox).

CREATE OR REPLACE TEMP TABLE _runs AS
SELECT computed_at, row_number() OVER (ORDER BY computed_at) AS run_no
FROM (SELECT DISTINCT computed_at FROM list_history);

CREATE OR REPLACE TEMP TABLE _periods(period, days) AS VALUES ('30d', 30), ('90d', 90);

CREATE OR REPLACE TABLE stage.list_entries AS
WITH numbered AS (
    SELECT h.list_name, h.person_id, h.computed_at, r.run_no
    FROM list_history h
    JOIN _runs r USING (computed_at)
), entries AS (
    SELECT n.list_name, n.person_id, n.computed_at AS entered_at
    FROM numbered n
    ANTI JOIN numbered p
           ON p.list_name = n.list_name AND p.person_id = n.person_id
          AND p.run_no = n.run_no - 1
    WHERE n.computed_at >= $now - INTERVAL 90 DAY
)
SELECT e.list_name, e.person_id, e.entered_at, h.tier
FROM entries e
ASOF LEFT JOIN ladder_history h
     ON h.person_id = e.person_id AND e.entered_at >= h.computed_at;

CREATE OR REPLACE TABLE stage.list_controls AS
WITH starts AS (
    SELECT p.period, p.days, min(r.computed_at) AS started_at
    FROM _periods p
    JOIN _runs r ON r.computed_at >= $now - p.days * INTERVAL 1 DAY
    GROUP BY ALL
), ladder_runs AS (
    -- The ladder each start was made from: the latest at or before it.
    SELECT s.period, s.started_at, max(h.computed_at) AS ladder_at
    FROM starts s
    JOIN (SELECT DISTINCT computed_at FROM ladder_history) h ON h.computed_at <= s.started_at
    GROUP BY ALL
), rungs AS (
    SELECT DISTINCT s.period, e.list_name, e.tier
    FROM stage.list_entries e
    JOIN starts s ON e.entered_at >= $now - s.days * INTERVAL 1 DAY
    WHERE e.tier IS NOT NULL
)
SELECT g.period, g.list_name, h.person_id, l.started_at
FROM rungs g
JOIN ladder_runs l USING (period)
JOIN ladder_history h ON h.computed_at = l.ladder_at AND h.tier = g.tier
ANTI JOIN list_history o
       ON o.computed_at = l.started_at AND o.list_name = g.list_name
      AND o.person_id = h.person_id;

CREATE OR REPLACE VIEW stage.success_input AS
SELECT a.*
FROM activities a
SEMI JOIN (SELECT person_id FROM stage.list_entries
           UNION SELECT person_id FROM stage.list_controls) w USING (person_id)
WHERE a.occurred_at > (SELECT least(min(entered_at), (SELECT min(started_at)
                                                      FROM stage.list_controls))
                       FROM stage.list_entries);
