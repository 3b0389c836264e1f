-- The ask loop (issue 15), parts 4 and 5: which asks work, and the phone a wrong number was.
--
-- ask_conversion: rebuilt whole each run by the ask_conversion step, after the lists. Per
-- period of entry (people who entered a list in the last 30 or 90 days, from list_history),
-- per list and per team (team NULL: the whole organisation): how many entered, how many an
-- organiser reached, how many met the list's success rule within its window_days, and the
-- same rate for people of the same rung who were not on the list. Counts only.
CREATE TABLE ask_conversion (
    computed_at             TIMESTAMP NOT NULL,
    period                  VARCHAR NOT NULL,   -- '30d' or '90d': entered in the last N days
    list_name               VARCHAR NOT NULL,   -- without `list:`
    team                    VARCHAR,            -- NULL: every team and nobody's team
    entered                 INTEGER NOT NULL,   -- entries into the list in the period
    reached                 INTEGER NOT NULL,   -- of them, an organiser recorded reaching
    succeeded               INTEGER NOT NULL,   -- of them, met `success` within window_days
    conversion_rate         DOUBLE,             -- succeeded / entered; NULL when none entered
    median_days_to_success  DOUBLE,
    in_window               INTEGER NOT NULL,   -- entries whose window has not ended yet
    baseline_people         INTEGER NOT NULL,   -- same rung, not on the list, in the period
    baseline_succeeded      INTEGER NOT NULL,
    baseline_rate           DOUBLE              -- NULL when there was nobody to compare
);

-- A wrong number is about one number: the SHA-256 of the phone (E.164) the organiser saw
-- on the list, recorded by the portal; that phone stops being used for that person.
ALTER TABLE organiser_outcomes ADD COLUMN phone_sha256 VARCHAR;

-- Erasure reaches the portal's own store after the warehouse: the people whose outcomes and
-- notes are still to be deleted there are kept here first (ids only), and each run (the
-- organiser_outcomes asset) finishes what a `make forget` stopped before doing.
CREATE TABLE portal_erasures (
    person_id     VARCHAR NOT NULL,
    requested_at  TIMESTAMP NOT NULL
);

-- person_metrics gains what organisers recorded (transforms/metrics.py declares them; every
-- run recreates the table from the declaration). Added here too, so a warehouse upgraded
-- and not yet run (a `make forget` first) has the columns ladder.yaml's lists name.
ALTER TABLE person_metrics ADD COLUMN conversations_30d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN conversations_30d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN conversations_90d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN conversations_90d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN conversations_180d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN conversations_180d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN conversations_365d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN conversations_365d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN conversations_total INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN conversations_total SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN last_conversation_at TIMESTAMP;
ALTER TABLE person_metrics ADD COLUMN commitments_30d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN commitments_30d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN commitments_90d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN commitments_90d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN commitments_180d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN commitments_180d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN commitments_365d INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN commitments_365d SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN commitments_total INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN commitments_total SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN open_commitments INTEGER DEFAULT 0;
ALTER TABLE person_metrics ALTER COLUMN open_commitments SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN do_not_contact BOOLEAN DEFAULT false;
ALTER TABLE person_metrics ALTER COLUMN do_not_contact SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN wrong_number BOOLEAN DEFAULT false;
ALTER TABLE person_metrics ALTER COLUMN wrong_number SET NOT NULL;
ALTER TABLE person_metrics ADD COLUMN last_outcome VARCHAR;
ALTER TABLE person_metrics ADD COLUMN last_outcome_at TIMESTAMP;
ALTER TABLE person_metrics ADD COLUMN follow_up_on DATE;
ALTER TABLE person_metrics ADD COLUMN follow_up_due BOOLEAN DEFAULT false;
ALTER TABLE person_metrics ALTER COLUMN follow_up_due SET NOT NULL;
