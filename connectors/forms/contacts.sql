-- step: contacts_forms
-- reads: raw_forms
-- writes: stage.contacts_forms, stage.landed_forms
-- params: -
-- udfs: -

-- Form exports' part of the suppression purge (transforms/suppressed.sql): every row's
-- email, alternative email and phone, with when the row landed so the purge reads only
-- rows landed since it last ran. A form row has no record key of its own (its id is the
-- file and row number), so only its addresses and phone can suppress it. Views: they cost
-- nothing until the purge reads them, and never keep a copy of a forgotten person.
CREATE OR REPLACE VIEW stage.contacts_forms AS
SELECT 'forms' AS source, file_name || ':' || row_number AS record,
       unnest(['email', 'email', 'phone']) AS kind, unnest(v) AS value, loaded_at,
       false AS link
FROM (SELECT file_name, row_number, loaded_at,
             json_extract_string(payload, ['$.fields.email', '$.fields.alt_email',
                                           '$.fields.phone']) AS v
      FROM raw_forms);

-- The latest landing the purge could read (where it stops reading this time).
CREATE OR REPLACE VIEW stage.landed_forms AS
SELECT max(loaded_at) AS loaded_at FROM raw_forms;
