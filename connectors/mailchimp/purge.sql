-- step: purge_mailchimp
-- reads: stage.purge_records
-- writes: raw_mailchimp
-- params: -
-- udfs: -

-- Mailchimp's part of erasure and the suppression purge (transforms/erasure.py): its raw
-- rows of the records in stage.purge_records, and the rows that point at them (a member's
-- email activity names them by email_id), wherever they were landed.
--   part 'record': a member landed again though suppressed: their versions, and (only
--     when one was dropped, the rest are never parsed) their activity;
--   part 'link': an activity row carrying a suppressed address or member id
--     (contacts.sql lists them);
--   part 'forgotten': a member erased now: every row carrying their id (only when there
--     is one: the purge of every staging run has none).
DELETE FROM raw_mailchimp
WHERE (resource = 'members'
       AND record_id IN (SELECT record FROM stage.purge_records
                         WHERE source = 'mailchimp' AND part = 'record'))
   OR ((SELECT count(*) FROM stage.purge_records
        WHERE source = 'mailchimp' AND part = 'record') > 0
       AND resource <> 'members'
       AND payload ->> '$.email_id' IN (
           SELECT record FROM stage.purge_records
           WHERE source = 'mailchimp' AND part = 'record'))
   OR (resource <> 'members'
       AND record_id IN (SELECT record FROM stage.purge_records
                         WHERE source = 'mailchimp' AND part = 'link'))
   OR ((SELECT count(*) FROM stage.purge_records
        WHERE source = 'mailchimp' AND part = 'forgotten') > 0
       AND (record_id IN (SELECT record FROM stage.purge_records
                          WHERE source = 'mailchimp' AND part = 'forgotten')
            OR payload ->> '$.email_id' IN (
                SELECT record FROM stage.purge_records
                WHERE source = 'mailchimp' AND part = 'forgotten')));
