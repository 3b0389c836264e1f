-- step: activities_forms
-- reads: raw_forms, stg_source_records, person_sources, says_yes(), attended_answer()
-- writes: stage.form_rows, stage.activities_forms, stage.referral_candidates_forms
-- params: -
-- udfs: -

-- The form exports' part of `activities` (docs/architecture.md, "Adding a platform"):
-- every row is a submission, some say more; in `stage.activities_forms`. And the "who
-- referred you" answers, for referrals.sql.

-- Form export rows (the latest file of each name, as staging keeps), with the answers
-- that say more than "submitted".
CREATE OR REPLACE TABLE stage.form_rows AS
WITH latest_files AS (
    SELECT file_name, arg_max(file_hash, loaded_at) AS file_hash
    FROM raw_forms GROUP BY file_name
), rows AS (
    SELECT r.file_name, r.row_number, r.layout,
           json_transform(r.payload -> '$.fields',
               '{"volunteer": "VARCHAR", "attended": "VARCHAR", "referred_by": "VARCHAR"}') AS f
    FROM raw_forms r
    JOIN latest_files USING (file_name, file_hash)
    QUALIFY row_number() OVER (PARTITION BY r.file_name, r.row_number ORDER BY r.loaded_at DESC) = 1
)
SELECT
    'forms' AS source,
    r.file_name || ':' || r.row_number AS source_record_id,
    r.file_name,
    r.layout,
    s.created_at AS occurred_at,
    nullif(trim(r.f.volunteer), '') AS volunteer,
    nullif(trim(r.f.attended), '') AS attended,
    nullif(trim(r.f.referred_by), '') AS referred_by,
    ps.person_id
FROM rows r
JOIN stg_source_records s
  ON s.source = 'forms' AND s.source_record_id = r.file_name || ':' || r.row_number
JOIN person_sources ps USING (source, source_record_id);

-- Activity rows, in the columns every platform's activities view gives. A referral counts
-- on the submission: every row is one, whatever else it says.
CREATE OR REPLACE TABLE stage.activities_forms AS
SELECT person_id, source, source_record_id, 'form_submission' AS activity_type, occurred_at,
       file_name AS object, file_name AS object_id, 'form' AS channel,
       NULL::DECIMAL(12, 2) AS amount, NULL::BOOLEAN AS recurring, layout AS detail,
       true AS referable
FROM stage.form_rows

UNION ALL
SELECT person_id, source, source_record_id, 'volunteer_signup', occurred_at, file_name,
       file_name, 'form', NULL, NULL, left(volunteer, 200), false
FROM stage.form_rows
WHERE says_yes(volunteer)

UNION ALL
SELECT person_id, source, source_record_id, 'event_rsvp', occurred_at, file_name,
       file_name, 'form', NULL, NULL, left(attended, 100), false
FROM stage.form_rows
WHERE attended_answer(attended) IS NOT NULL

UNION ALL
SELECT person_id, source, source_record_id, 'event_attended', occurred_at, file_name,
       file_name, 'event', NULL, NULL, left(attended, 100), false
FROM stage.form_rows
WHERE attended_answer(attended) = 'attended';

-- Referral candidates: the `referred_by` answer names the recruiter (by email, a referral
-- code or a full name; referrals.sql reads it).
CREATE OR REPLACE VIEW stage.referral_candidates_forms AS
SELECT source, source_record_id, person_id, NULL::VARCHAR AS code,
       NULL::VARCHAR AS second_code, referred_by AS answer
FROM stage.form_rows
WHERE referred_by IS NOT NULL;
