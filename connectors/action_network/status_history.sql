-- step: status_history_action_network
-- reads: raw_action_network
-- writes: stage.status_history_action_network
-- params: -
-- udfs: -

-- Action Network's part of the consent evidence (transforms/people.sql): the status of the
-- primary (else first) email address and phone number of every landed version of every
-- person (raw tables are append-only), in the words its staging view gives (staging.sql),
-- so the golden record can tell when the current status first showed. A view: people
-- reads it once.
CREATE OR REPLACE VIEW stage.status_history_action_network AS
SELECT 'action_network' AS source, record_id AS source_record_id, modified_at,
       lower(coalesce(list_filter(emails, lambda x: x."primary")[1], emails[1]).status)
           AS email_status,
       lower(coalesce(list_filter(phones, lambda x: x."primary")[1], phones[1]).status)
           AS phone_status
FROM (
    SELECT record_id, modified_at,
           from_json(payload -> '$.email_addresses',
                     '[{"primary":"BOOLEAN","status":"VARCHAR"}]') AS emails,
           from_json(payload -> '$.phone_numbers',
                     '[{"primary":"BOOLEAN","status":"VARCHAR"}]') AS phones
    FROM raw_action_network
    WHERE resource = 'people'
);
