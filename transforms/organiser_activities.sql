-- step: organiser_activities
-- reads: organiser_outcomes, person_registry, people
-- writes: stage.organiser_placed, stage.activities_organisers, stage.organiser_contact
-- params: -
-- udfs: -

-- The portal's part of activities: what organisers recorded (organiser_outcomes, landed by
-- the organiser_outcomes asset). reached is a conversation; said_yes is a conversation and
-- a commitment (to the list's ask). Source `portal`, record `outcome:<id>` (the commitment
-- `outcome:<id>:commitment`), the organiser as recorded_by, no channel. A person merged
-- into another since is followed to the one who survives; an outcome whose person is no
-- longer in the warehouse (forgotten) is dropped, never re-created.
-- stage.organiser_contact: what the outcomes say about contacting each person now (read by
-- person_metrics): do_not_contact (recorded once, kept: every list, export and push drops
-- them), the phones recorded as a wrong number for them, and their latest outcome with its
-- follow-up date.

CREATE OR REPLACE TABLE stage.organiser_placed AS
WITH RECURSIVE chain(outcome_id, person_id, depth) AS (
    SELECT outcome_id, person_id, 0 FROM organiser_outcomes
    UNION ALL
    -- One merge further; the depth bounds a (never expected) cycle.
    SELECT c.outcome_id, r.merged_into, c.depth + 1
    FROM chain c
    JOIN person_registry r ON r.person_id = c.person_id
    WHERE r.merged_into IS NOT NULL AND c.depth < 32
), survivor AS (
    SELECT outcome_id, arg_max(c.person_id, c.depth) AS person_id
    FROM chain c
    GROUP BY outcome_id
)
SELECT o.*, s.person_id AS current_person_id
FROM organiser_outcomes o
JOIN survivor s USING (outcome_id)
JOIN people p ON p.person_id = s.person_id;

CREATE OR REPLACE TABLE stage.activities_organisers AS
WITH kinds(outcome, activity_type, suffix) AS (
    VALUES ('reached', 'conversation', ''),
           ('said_yes', 'conversation', ''),
           ('said_yes', 'commitment', ':commitment')
)
SELECT p.current_person_id AS person_id,
       'portal' AS source,
       'outcome:' || p.outcome_id || k.suffix AS source_record_id,
       k.activity_type,
       p.recorded_at AS occurred_at,
       p.list_name AS object,
       NULL::VARCHAR AS object_id,
       NULL::VARCHAR AS channel,
       NULL::DECIMAL(12, 2) AS amount,
       NULL::BOOLEAN AS recurring,
       p.outcome AS detail,
       false AS referable,
       p.organiser AS recorded_by
FROM stage.organiser_placed p
JOIN kinds k USING (outcome)
ORDER BY p.outcome_id, k.activity_type DESC;

-- The latest outcome decides the follow-up: a newer one without a date clears it.
CREATE OR REPLACE TABLE stage.organiser_contact AS
SELECT current_person_id AS person_id,
       bool_or(outcome = 'do_not_contact') AS do_not_contact,
       list(DISTINCT phone_sha256) FILTER (WHERE outcome = 'wrong_number'
                                          AND phone_sha256 IS NOT NULL) AS wrong_phones,
       arg_max(outcome, (recorded_at, outcome_id)) AS last_outcome,
       max(recorded_at) AS last_outcome_at,
       -- arg_max_null: a newer outcome without a date counts (arg_max would skip it).
       arg_max_null(follow_up, (recorded_at, outcome_id)) AS follow_up_on
FROM stage.organiser_placed
GROUP BY current_person_id;
