-- Movement over time. `ladder_history` keeps each person's rung at every ladder run,
-- appended per run and never rewritten: a re-run at the same computed_at replaces that
-- run's rows only. `ladder_movement` holds the latest movement report: per comparison
-- (since the last run, 30 and 90 days) and rung, counts only, never personal data.
CREATE TABLE ladder_history (
    computed_at  TIMESTAMP NOT NULL,         -- the run (the ladder's computed_at)
    person_id    VARCHAR NOT NULL,
    tier         VARCHAR NOT NULL,
    tier_rank    INTEGER NOT NULL            -- 1 is the top rung
);

CREATE TABLE ladder_movement (
    period          VARCHAR NOT NULL,        -- last_run, 30d, 90d
    baseline_at     TIMESTAMP,               -- the run compared with; NULL when none yet
    computed_at     TIMESTAMP NOT NULL,      -- the current run
    rung            VARCHAR NOT NULL,
    tier_rank       INTEGER,
    was             INTEGER NOT NULL,        -- on the rung at the baseline run
    now             INTEGER NOT NULL,        -- on the rung now
    stayed          INTEGER NOT NULL,        -- on it then and now
    moved_up        INTEGER NOT NULL,        -- were on it, now on a higher rung
    moved_down      INTEGER NOT NULL,        -- were on it, now on a lower rung
    "left"          INTEGER NOT NULL,        -- were on it, no longer in the warehouse
    arrived         INTEGER NOT NULL,        -- now on it, not on the ladder at the baseline
    conversion      DOUBLE,                  -- moved_up / was: the rung's next ask converting
    PRIMARY KEY (period, rung)
);
