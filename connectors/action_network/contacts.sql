-- step: contacts_action_network
-- reads: raw_action_network
-- writes: stage.contacts_action_network, stage.landed_action_network
-- params: -
-- udfs: -

-- Action Network's part of the suppression purge (transforms/suppressed.sql): every address
-- and phone number of every activist version landed, wherever identity or a later version
-- could read them, and the activist's own record key ('action_network:<uuid>'), with when
-- the row landed so the purge reads only rows landed since it last ran. Views: they cost
-- nothing until the purge reads them, and never keep a copy of a forgotten person.
CREATE OR REPLACE VIEW stage.contacts_action_network AS
SELECT 'action_network' AS source, record_id AS record, 'email' AS kind,
       unnest(from_json(payload -> '$.email_addresses', '[{"address": "VARCHAR"}]')).address
           AS value,
       loaded_at, false AS link
FROM raw_action_network
WHERE resource = 'people'
UNION ALL
SELECT 'action_network', record_id, 'phone',
       unnest(from_json(payload -> '$.phone_numbers', '[{"number": "VARCHAR"}]')).number,
       loaded_at, false
FROM raw_action_network
WHERE resource = 'people'
UNION ALL
SELECT 'action_network', record_id, 'record_key', 'action_network:' || record_id, loaded_at,
       false
FROM raw_action_network
WHERE resource = 'people';

-- The latest landing the purge could read (where it stops reading this time).
CREATE OR REPLACE VIEW stage.landed_action_network AS
SELECT max(loaded_at) AS loaded_at FROM raw_action_network;
