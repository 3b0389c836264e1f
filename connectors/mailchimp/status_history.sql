-- step: status_history_mailchimp
-- reads: raw_mailchimp
-- writes: stage.status_history_mailchimp
-- params: -
-- udfs: -

-- Mailchimp's part of the consent evidence (transforms/people.sql): the email status of
-- every landed version of every audience member (raw tables are append-only), in the words
-- its staging view gives (staging.sql), so the golden record can tell when the current
-- status first showed. Mailchimp has no phone status. A view: people reads it once.
CREATE OR REPLACE VIEW stage.status_history_mailchimp AS
SELECT 'mailchimp' AS source, record_id AS source_record_id, modified_at,
       lower(payload ->> '$.status') AS email_status, NULL::VARCHAR AS phone_status
FROM raw_mailchimp
WHERE resource = 'members';
