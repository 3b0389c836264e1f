-- step: ask_conversion
-- reads: stage.list_entries, stage.list_controls, stage.ask_successes, stage.ask_rules,
--     stage.organiser_placed, teams, team_members
-- writes: ask_conversion
-- params: $now
-- udfs: -

-- Which asks work: per period of entry, list and team (team NULL: the whole organisation),
-- how many entered the list, how many an organiser reached on it, how many met its success
-- rule within window_days after entering (stage.ask_successes: the success rules' matches,
-- run in the config sandbox), the median days that took, and the same rate for the
-- controls (same rung, not on the list: list_entries.sql). Every list and team has a row
-- for each period, zeros when nobody entered. $now: the run's time.

CREATE OR REPLACE TEMP TABLE _periods(period, days) AS VALUES ('30d', 30), ('90d', 90);

-- Reached: an organiser recorded anything but "not reached" for them on this list since
-- they entered it.
CREATE OR REPLACE TEMP TABLE _entry_results AS
WITH succeeded AS (
    SELECT e.list_name, e.person_id, e.entered_at, min(s.occurred_at) AS succeeded_at
    FROM stage.list_entries e
    JOIN stage.ask_rules r USING (list_name)
    JOIN stage.ask_successes s
      ON s.list_name = e.list_name AND s.person_id = e.person_id
     AND s.occurred_at > e.entered_at
     AND s.occurred_at <= e.entered_at + r.window_days * INTERVAL 1 DAY
    GROUP BY ALL
), reached AS (
    SELECT DISTINCT e.list_name, e.person_id, e.entered_at
    FROM stage.list_entries e
    JOIN stage.organiser_placed o
      ON o.list_name = e.list_name AND o.current_person_id = e.person_id
     AND o.recorded_at >= e.entered_at AND o.outcome <> 'not_reached'
)
SELECT e.list_name, e.person_id, e.entered_at, r.window_days, r.has_success,
       s.succeeded_at,
       date_diff('second', e.entered_at, s.succeeded_at) / 86400.0 AS days_to_success,
       re.person_id IS NOT NULL AS reached,
       e.entered_at + r.window_days * INTERVAL 1 DAY > $now AS in_window
FROM stage.list_entries e
JOIN stage.ask_rules r USING (list_name)
LEFT JOIN succeeded s USING (list_name, person_id, entered_at)
LEFT JOIN reached re USING (list_name, person_id, entered_at);

CREATE OR REPLACE TEMP TABLE _control_results AS
SELECT c.period, c.list_name, c.person_id,
       EXISTS (SELECT 1 FROM stage.ask_successes s
               WHERE s.list_name = c.list_name AND s.person_id = c.person_id
                 AND s.occurred_at > c.started_at
                 AND s.occurred_at <= c.started_at + r.window_days * INTERVAL 1 DAY)
           AS succeeded
FROM stage.list_controls c
JOIN stage.ask_rules r USING (list_name)
WHERE r.has_success;

-- Each entry counted once for the organisation and once for each of the person's teams.
CREATE OR REPLACE TEMP TABLE _scoped AS
SELECT p.period, e.*, NULL::VARCHAR AS team
FROM _periods p
JOIN _entry_results e ON e.entered_at >= $now - p.days * INTERVAL 1 DAY
UNION ALL
SELECT p.period, e.*, tm.team
FROM _periods p
JOIN _entry_results e ON e.entered_at >= $now - p.days * INTERVAL 1 DAY
JOIN team_members tm USING (person_id);

CREATE OR REPLACE TEMP TABLE _control_scoped AS
SELECT c.*, NULL::VARCHAR AS team FROM _control_results c
UNION ALL
SELECT c.*, tm.team FROM _control_results c JOIN team_members tm USING (person_id);

CREATE OR REPLACE TEMP TABLE _cells AS
SELECT p.period, r.list_name, r.has_success, t.team
FROM _periods p
CROSS JOIN stage.ask_rules r
CROSS JOIN (SELECT NULL::VARCHAR AS team UNION ALL SELECT team FROM teams) t;

BEGIN TRANSACTION;
DELETE FROM ask_conversion;
INSERT INTO ask_conversion BY NAME
WITH entered AS (
    SELECT period, list_name, team,
           count(*) AS entered,
           count(*) FILTER (WHERE reached) AS reached,
           count(*) FILTER (WHERE succeeded_at IS NOT NULL) AS succeeded,
           median(days_to_success) AS median_days_to_success,
           count(*) FILTER (WHERE in_window) AS in_window
    FROM _scoped
    GROUP BY ALL
), controls AS (
    SELECT period, list_name, team,
           count(*) AS baseline_people,
           count(*) FILTER (WHERE succeeded) AS baseline_succeeded
    FROM _control_scoped
    GROUP BY ALL
)
SELECT $now AS computed_at,
       c.period, c.list_name, c.team,
       coalesce(e.entered, 0) AS entered,
       coalesce(e.reached, 0) AS reached,
       coalesce(e.succeeded, 0) AS succeeded,
       CASE WHEN c.has_success AND e.entered > 0 THEN e.succeeded / e.entered END
           AS conversion_rate,
       e.median_days_to_success,
       coalesce(e.in_window, 0) AS in_window,
       coalesce(b.baseline_people, 0) AS baseline_people,
       coalesce(b.baseline_succeeded, 0) AS baseline_succeeded,
       CASE WHEN c.has_success AND b.baseline_people > 0
            THEN b.baseline_succeeded / b.baseline_people END AS baseline_rate
FROM _cells c
LEFT JOIN entered e
       ON e.period = c.period AND e.list_name = c.list_name
      AND e.team IS NOT DISTINCT FROM c.team
LEFT JOIN controls b
       ON b.period = c.period AND b.list_name = c.list_name
      AND b.team IS NOT DISTINCT FROM c.team
ORDER BY c.period, c.list_name, c.team NULLS FIRST;
COMMIT;
