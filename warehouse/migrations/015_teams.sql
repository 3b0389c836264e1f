-- Teams (issue 14): local teams declared in teams.yaml (TEAMS_CONFIG), their members, and
-- per-team figures. Rebuilt whole by the `teams` asset on every run (transforms/teams.py,
-- transforms/team_figures.sql). A person is in every team whose rule they meet, so they
-- can be in several teams, or in none.

-- One row per team, in the file's order.
CREATE TABLE teams (
    team            VARCHAR PRIMARY KEY,     -- the team's name as written in teams.yaml
    position        INTEGER NOT NULL,        -- its place in the file, from 1
    description     VARCHAR NOT NULL,
    rule            VARCHAR NOT NULL,        -- the rule as written: "where: ...; tags: ..."
    organisers      VARCHAR[] NOT NULL,      -- organisers' emails (lower case); may be empty
    organiser_count INTEGER NOT NULL,
    members         INTEGER NOT NULL,        -- people in the team
    computed_at     TIMESTAMP NOT NULL       -- the run that built it
);

-- Who is in each team and why. Erasure removes a forgotten person's rows.
CREATE TABLE team_members (
    team        VARCHAR NOT NULL,
    person_id   VARCHAR NOT NULL,
    why         VARCHAR NOT NULL,            -- "meets the team's rule", "tagged <tag>", or both
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team, person_id)
);

-- People per rung in each team now: every configured rung (and `unplaced` once anyone
-- has been on it), zero where none. Counts only.
CREATE TABLE team_ladder (
    team        VARCHAR NOT NULL,
    rung        VARCHAR NOT NULL,
    tier_rank   INTEGER,                     -- 1 is the top rung
    people      INTEGER NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team, rung)
);

-- Movement of each team's current members, as ladder_movement is for everyone: their rung
-- in the latest ladder run against the run before it (last_run) and the latest run at or
-- before 30 and 90 days earlier. Counted on the rung they WERE on (was, stayed, moved_up,
-- moved_down) and the rung they are on NOW (now, arrived: not on the ladder at the
-- baseline). Counts only.
CREATE TABLE team_movement (
    team        VARCHAR NOT NULL,
    period      VARCHAR NOT NULL,            -- last_run, 30d, 90d
    baseline_at TIMESTAMP,                   -- the run compared with; NULL when none yet
    computed_at TIMESTAMP NOT NULL,
    rung        VARCHAR NOT NULL,
    tier_rank   INTEGER,
    was         INTEGER NOT NULL,
    now         INTEGER NOT NULL,
    stayed      INTEGER NOT NULL,
    moved_up    INTEGER NOT NULL,
    moved_down  INTEGER NOT NULL,
    arrived     INTEGER NOT NULL,
    conversion  DOUBLE,                      -- moved_up / was
    PRIMARY KEY (team, period, rung)
);

-- Each activation list's size per team, from the current lists: the members of the list
-- who are in the team (a person in two teams counts in both). A view, so it always
-- matches segment_members, which is built after the teams.
CREATE VIEW team_list_sizes AS
SELECT t.team,
       substr(s.segment, 6) AS list,             -- segment 'list:<name>'
       count(m.person_id)::INTEGER AS people
FROM teams t
CROSS JOIN (SELECT DISTINCT segment FROM segment_members WHERE segment LIKE 'list:%') s
LEFT JOIN (
    SELECT tm.team, sm.segment, sm.person_id
    FROM team_members tm
    JOIN segment_members sm USING (person_id)
) m ON m.team = t.team AND m.segment = s.segment
GROUP BY t.team, s.segment;
