-- The ask loop (issue 15), part 4: what organisers recorded in the portal reaches the
-- warehouse. The `organiser_outcomes` asset (pipelines/assets/outcomes.py) lands the
-- portal store's new outcomes here each run, in the order recorded, never twice; the
-- activities step turns reached and said_yes into activities. Erasure removes a forgotten
-- person's rows (and their outcomes in the portal's store).
CREATE TABLE organiser_outcomes (
    outcome_id   BIGINT PRIMARY KEY,          -- the portal store's outcomes.id
    recorded_at  TIMESTAMP NOT NULL,          -- when the organiser recorded it (UTC)
    organiser    VARCHAR NOT NULL,            -- the organiser's account email
    team         VARCHAR NOT NULL,
    list_name    VARCHAR NOT NULL,            -- the list's name, without `list:`
    person_id    VARCHAR NOT NULL,            -- as recorded: may since have been merged
    outcome      VARCHAR NOT NULL,            -- reached, not_reached, said_yes, said_no,
                                              -- wrong_number, do_not_contact
    follow_up    DATE,                        -- with reached or said_yes only
    note         VARCHAR,                     -- at most 500 characters
    via          VARCHAR NOT NULL,            -- page or upload
    landed_at    TIMESTAMP NOT NULL           -- the run that landed it
);

-- Who recorded an activity, when a person did (organiser outcomes: the organiser's email);
-- NULL for every platform's activity.
ALTER TABLE activities ADD COLUMN recorded_by VARCHAR;
