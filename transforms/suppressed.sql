-- Erased addresses landed again (a person still on a platform, or in a new form export):
-- their raw rows are deleted before staging reads anything, so an erased person is never
-- re-imported. Compared by the SHA-256 of the trimmed, lower-cased address.
CREATE OR REPLACE TEMP TABLE _suppressed_an_people AS
SELECT DISTINCT record_id
FROM raw_action_network
WHERE resource = 'people'
  AND list_has_any(
        list_transform(
            from_json(payload -> '$.email_addresses', '[{"address": "VARCHAR"}]'),
            lambda a: sha256(lower(trim(a.address)))),
        (SELECT list(email_hash) FROM erasure_suppressions));

DELETE FROM raw_action_network
WHERE record_id IN (SELECT record_id FROM _suppressed_an_people)
   OR payload ->> '$."action_network:person_id"' IN (SELECT record_id FROM _suppressed_an_people)
   OR payload ->> '$."groundswell:person_id"' IN (SELECT record_id FROM _suppressed_an_people);
DELETE FROM raw_mailchimp
WHERE sha256(lower(trim(payload ->> '$.email_address'))) IN (
    SELECT email_hash FROM erasure_suppressions);
DELETE FROM raw_forms
WHERE sha256(lower(trim(payload ->> '$.fields.email'))) IN (
    SELECT email_hash FROM erasure_suppressions);
DROP TABLE _suppressed_an_people;
