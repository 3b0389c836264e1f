-- step: contacts_mailchimp
-- reads: raw_mailchimp
-- writes: stage.contacts_mailchimp, stage.landed_mailchimp
-- params: -
-- udfs: -

-- Mailchimp's part of the suppression purge (transforms/suppressed.sql): every audience
-- member version landed, with its address, its PHONE merge field and its own record key
-- ('mailchimp:<member id>'); and every other row (email activity) that carries a member's
-- address or id, as a link (dropped on its own when either is suppressed). With when the
-- row landed, so the purge reads only rows landed since it last ran. Views: they cost
-- nothing until the purge reads them, and never keep a copy of a forgotten person.
CREATE OR REPLACE VIEW stage.contacts_mailchimp AS
-- One JSON parse a row for all the paths read; kinds and values unnested side by side.
SELECT 'mailchimp' AS source, record_id AS record,
       unnest(['email', 'phone', 'record_key']) AS kind,
       unnest([v[1], v[2], 'mailchimp:' || record_id]) AS value, loaded_at, false AS link
FROM (SELECT record_id, loaded_at,
             json_extract_string(payload, ['$.email_address', '$.merge_fields.PHONE']) AS v
      FROM raw_mailchimp
      WHERE resource = 'members')
UNION ALL
SELECT 'mailchimp', record_id, unnest(['email', 'record_key']),
       unnest([v[1], 'mailchimp:' || v[2]]), loaded_at, true
FROM (SELECT record_id, loaded_at,
             json_extract_string(payload, ['$.email_address', '$.email_id']) AS v
      FROM raw_mailchimp
      WHERE resource <> 'members');

-- The latest landing the purge could read (where it stops reading this time).
CREATE OR REPLACE VIEW stage.landed_mailchimp AS
SELECT max(loaded_at) AS loaded_at FROM raw_mailchimp;
