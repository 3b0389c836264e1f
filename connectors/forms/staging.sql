-- step: stage_forms
-- reads: raw_forms, form_ts(), consent_answer()
-- writes: stage.stg_forms
-- params: -
-- udfs: -

-- Form exports' part of stg_source_records: every row of the latest file of each name, in
-- the columns every platform's staging view gives (docs/architecture.md, "Adding a
-- platform"). A view: it costs nothing until staging reads it.
CREATE OR REPLACE VIEW stage.stg_forms AS
WITH latest_files AS (
    -- A corrected export under the same name replaces the rows of the earlier one.
    SELECT file_name, arg_max(file_hash, loaded_at) AS file_hash
    FROM raw_forms GROUP BY file_name
), fm AS (
    SELECT r.file_name, r.row_number, r.payload, r.loaded_at,
           nullif(trim(r.payload ->> '$.fields.full_name'), '') AS full_name
    FROM raw_forms r JOIN latest_files USING (file_name, file_hash)
), fm_rows AS (
    SELECT
        'forms' AS source,
        file_name || ':' || row_number AS source_record_id,
        file_name,
        row_number,
        coalesce(nullif(payload ->> '$.fields.given_name', ''),
                 CASE WHEN full_name IS NOT NULL THEN split_part(full_name, ' ', 1) END) AS given_name,
        coalesce(nullif(payload ->> '$.fields.family_name', ''),
                 CASE WHEN strpos(full_name, ' ') > 0
                      THEN trim(substr(full_name, strpos(full_name, ' ') + 1)) END) AS family_name,
        nullif(payload ->> '$.fields.email', '') AS email_raw,
        -- A second Email column's address (connectors/forms/reader.py keeps it as alt_email).
        nullif(payload ->> '$.fields.alt_email', '') AS alt_email_raw,
        nullif(payload ->> '$.fields.phone', '') AS phone_raw,
        nullif(payload ->> '$.fields.address', '') AS address_line,
        nullif(payload ->> '$.fields.locality', '') AS locality,
        nullif(payload ->> '$.fields.region', '') AS region,
        nullif(payload ->> '$.fields.postal_code', '') AS postal_code,
        -- Consent answers (consent_answer, macros.sql): 'yes', 'no' or NULL per channel;
        -- transforms/staging.sql turns them into statuses dated by the submission. Rows
        -- landed before issue 12 have `consent`.
        NULL::VARCHAR AS email_status,
        NULL::VARCHAR AS phone_status,
        consent_answer(coalesce(nullif(trim(payload ->> '$.fields.consent_email'), ''),
                                payload ->> '$.fields.consent'), 'email') AS email_consent,
        consent_answer(payload ->> '$.fields.consent_sms', 'sms') AS sms_consent,
        []::VARCHAR[] AS platform_tags,
        []::VARCHAR[] AS platform_ids,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS created_at,
        coalesce(form_ts(payload ->> '$.fields.submitted_at'), loaded_at) AS modified_at
    FROM fm
)
SELECT * FROM fm_rows;
