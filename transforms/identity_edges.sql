-- The records to resolve and the deterministic links between them, rule by rule in order
-- of strength. Each rule links every record of a group to the group's smallest key (a
-- star), so edges grow with n, not n^2. Placeholder values were nulled in staging, and
-- empty keys never group anyone.

CREATE OR REPLACE TEMP TABLE _id_records AS
SELECT
    source || ':' || source_record_id AS record_key,
    source,
    source_record_id,
    file_name,
    row_number,
    email_key,
    alt_email_key,
    phone_key,
    phone_type,
    given_norm,
    given_key,
    family_norm,
    postal_code,
    street_number,
    street_name,
    platform_ids,
    is_empty
FROM stg_source_records;

-- The rules, strongest first; `rank` orders the reason a record is given.
CREATE OR REPLACE TEMP TABLE _id_rule_order AS
SELECT * FROM (VALUES
    (1, 'platform_id'),
    (2, 'email'),
    (3, 'mobile+name'),
    (4, 'name+postcode+street'),
    (5, 'probabilistic'),
    (6, 'review')
) AS t(rank, rule);

CREATE OR REPLACE TEMP TABLE _id_edges AS
WITH by_platform_id AS (
    -- The same platform id on two records (a form row or a member carrying a known id).
    SELECT record_key, min(record_key) OVER (PARTITION BY platform_id) AS anchor
    FROM (SELECT record_key, unnest(platform_ids) AS platform_id FROM _id_records)
), by_email AS (
    -- A record's second address (two Email columns on a form) links like its first.
    SELECT DISTINCT record_key, min(record_key) OVER (PARTITION BY k) AS anchor
    FROM (
        SELECT record_key, email_key AS k FROM _id_records WHERE email_key IS NOT NULL
        UNION ALL
        SELECT record_key, alt_email_key FROM _id_records WHERE alt_email_key IS NOT NULL
    )
), by_mobile_and_name AS (
    -- A phone alone never merges: households share landlines and mobiles get reassigned.
    SELECT record_key, min(record_key) OVER (PARTITION BY phone_key, given_key) AS anchor
    FROM _id_records
    WHERE phone_key IS NOT NULL AND given_key IS NOT NULL
      AND phone_type IS DISTINCT FROM 'landline'
), by_name_and_address AS (
    -- Name and postcode alone never merge: namesakes live in the same town.
    SELECT record_key,
           min(record_key) OVER (PARTITION BY given_key, family_norm, postal_code, street_number) AS anchor
    FROM _id_records
    WHERE given_key IS NOT NULL AND family_norm IS NOT NULL
      AND postal_code IS NOT NULL AND street_number IS NOT NULL
)
SELECT record_key AS a, anchor AS b, 'platform_id' AS rule, NULL::DOUBLE AS match_probability
FROM by_platform_id WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'email', NULL FROM by_email WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'mobile+name', NULL FROM by_mobile_and_name WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'name+postcode+street', NULL FROM by_name_and_address WHERE record_key <> anchor;
