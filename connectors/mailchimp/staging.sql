-- step: stage_mailchimp
-- reads: raw_mailchimp, utc_ts(), version_order()
-- writes: stage.stg_mailchimp
-- params: -
-- udfs: -

-- Mailchimp's part of stg_source_records: the latest version of every audience member
-- still in the audience, in the columns every platform's staging view gives
-- (docs/architecture.md, "Adding a platform"). A view: it costs nothing until staging
-- reads it.
CREATE OR REPLACE VIEW stage.stg_mailchimp AS
WITH mc AS (
    SELECT record_id, payload, modified_at
    FROM raw_mailchimp
    WHERE resource = 'members'
      AND rowid IN (SELECT arg_max(rowid, version_order(modified_at, loaded_at))
                    FROM raw_mailchimp WHERE resource = 'members' GROUP BY record_id)
), mc_rows AS (
    SELECT
        'mailchimp' AS source,
        record_id AS source_record_id,
        NULL::VARCHAR AS file_name,
        NULL::INTEGER AS row_number,
        nullif(payload ->> '$.merge_fields.FNAME', '') AS given_name,
        nullif(payload ->> '$.merge_fields.LNAME', '') AS family_name,
        payload ->> '$.email_address' AS email_raw,
        nullif(payload ->> '$.merge_fields.PHONE', '') AS phone_raw,
        nullif(payload ->> '$.merge_fields.ADDRESS.addr1', '') AS address_line,
        nullif(payload ->> '$.merge_fields.ADDRESS.city', '') AS locality,
        nullif(payload ->> '$.merge_fields.ADDRESS.state', '') AS region,
        nullif(payload ->> '$.merge_fields.ADDRESS.zip', '') AS postal_code,
        NULL::VARCHAR AS alt_email_raw,
        lower(payload ->> '$.status') AS email_status,
        NULL::VARCHAR AS phone_status,
        NULL::VARCHAR AS email_consent,
        NULL::VARCHAR AS sms_consent,
        coalesce(list_transform(
            from_json(payload -> '$.tags', '[{"name":"VARCHAR"}]'), lambda t: t.name), []) AS platform_tags,
        ['mailchimp:' || record_id] AS platform_ids,
        coalesce(utc_ts(payload ->> '$.timestamp_signup'), utc_ts(payload ->> '$.timestamp_opt'),
                 modified_at) AS created_at,
        modified_at
    FROM mc
    -- Gone from the audience at the last reconciliation: no longer a source of anything.
    WHERE payload ->> '$.status' IS DISTINCT FROM 'deleted'
)
SELECT * FROM mc_rows;
