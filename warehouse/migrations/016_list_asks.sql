-- The ask loop (issue 15), first part: every activation list carries its ask, and each run
-- records who was on each list.

-- The list's ask (ladder.yaml `ask`) on its `list:<name>` rows; NULL on tier rows and for a
-- list without one.
ALTER TABLE segment_members ADD COLUMN ask VARCHAR;

-- Who was on each list at each run, from segment_members' `list:` rows, appended by the
-- segments step: a re-run at the same computed_at replaces that run's rows only. Pruned as
-- ladder_history is (transforms/ladder.py `prune_history`). Erasure removes a forgotten
-- person's rows.
CREATE TABLE list_history (
    computed_at  TIMESTAMP NOT NULL,         -- the run (segment_members' computed_at)
    list_name    VARCHAR NOT NULL,           -- the list's name, without `list:`
    person_id    VARCHAR NOT NULL
);
