-- step: purge_forms
-- reads: stage.purge_records
-- writes: raw_forms
-- params: -
-- udfs: -

-- Form exports' part of erasure and the suppression purge (transforms/erasure.py): the
-- rows named in stage.purge_records (a row's record is `<file name>:<row number>`; nothing
-- points at a form row, and it has no record key, so every part means the row itself).
DELETE FROM raw_forms
WHERE file_name || ':' || row_number IN (
    SELECT record FROM stage.purge_records WHERE source = 'forms');
