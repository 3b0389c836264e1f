-- step: identity_edges
-- reads: stg_source_records, stage.name_canonical
-- writes: stage.id_records, stage.id_rule_order, stage.id_edges
-- params: -
-- udfs: -

-- The records to resolve and the deterministic links between them, rule by rule in order
-- of strength. Each rule links every record of a group to the group's smallest key (a
-- star), so edges grow with n, not n^2. Placeholder values were nulled in staging, and
-- empty keys never group anyone.

-- A first name the nickname list does not know, one dropped, added or swapped letter away
-- from exactly one canonical it does ('tomy', 'xanedr'): that canonical is its fuzzy key.
-- Only the guard against households (identity_links.sql) and the model read it
-- (given_fuzzy_key); the rules keep the exact key.
CREATE OR REPLACE TEMP TABLE _id_fuzzy_names AS
WITH unknown AS (
    SELECT DISTINCT split_part(given_norm, ' ', 1) AS name FROM stg_source_records
    WHERE given_norm IS NOT NULL AND length(split_part(given_norm, ' ', 1)) >= 4
      AND split_part(given_norm, ' ', 1) NOT IN (SELECT name FROM stage.name_canonical)
), near AS (
    SELECT u.name, n.canonical
    FROM unknown u JOIN stage.name_canonical n
      ON left(n.name, 1) = left(u.name, 1) AND abs(length(n.name) - length(u.name)) <= 1
    WHERE damerau_levenshtein(u.name, n.name) = 1
      AND (length(n.name) <> length(u.name) OR levenshtein(u.name, n.name) = 2)
)
SELECT name, min(canonical) AS canonical FROM near
GROUP BY name HAVING count(DISTINCT canonical) = 1;

CREATE OR REPLACE TABLE stage.id_records AS
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
    coalesce(fz.canonical, given_key) AS given_fuzzy_key,
    family_norm,
    postal_code,
    street_number,
    street_name,
    -- The town as a key: lower case, accents and punctuation gone.
    nullif(trim(regexp_replace(lower(strip_accents(locality)), '[^a-z0-9]+', ' ', 'g')), '')
        AS locality_key,
    -- The name whichever way round it was written: a typed-up sheet swaps first and last.
    CASE WHEN given_key IS NOT NULL AND family_norm IS NOT NULL
         THEN least(given_key, family_norm) || '|' || greatest(given_key, family_norm)
    END AS name_pair,
    platform_ids,
    -- Known by name and postal address alone: no email, no second address, no phone.
    email_key IS NULL AND alt_email_key IS NULL AND phone_key IS NULL AS is_name_and_address,
    is_empty
FROM stg_source_records
LEFT JOIN _id_fuzzy_names fz ON fz.name = split_part(given_norm, ' ', 1);

-- The rules, strongest first; `rank` orders the reason a record is given.
CREATE OR REPLACE TABLE stage.id_rule_order AS
SELECT * FROM (VALUES
    (1, 'platform_id'),
    (2, 'email'),
    (3, 'mobile+name'),
    (4, 'name+postcode+street'),
    (5, 'name+street+town'),
    (6, 'probabilistic'),
    (7, 'review')
) AS t(rank, rule);

CREATE OR REPLACE TABLE stage.id_edges AS
WITH by_platform_id AS (
    -- The same platform id on two records (a form row or a member carrying a known id).
    SELECT record_key, min(record_key) OVER (PARTITION BY platform_id) AS anchor
    FROM (SELECT record_key, unnest(platform_ids) AS platform_id FROM stage.id_records)
), by_email AS (
    -- A record's second address (two Email columns on a form) links like its first.
    SELECT DISTINCT record_key, min(record_key) OVER (PARTITION BY k) AS anchor
    FROM (
        SELECT record_key, email_key AS k FROM stage.id_records WHERE email_key IS NOT NULL
        UNION ALL
        SELECT record_key, alt_email_key FROM stage.id_records WHERE alt_email_key IS NOT NULL
    )
), by_mobile_and_name AS (
    -- A phone alone never merges: households share landlines and mobiles get reassigned.
    SELECT record_key, min(record_key) OVER (PARTITION BY phone_key, given_key) AS anchor
    FROM stage.id_records
    WHERE phone_key IS NOT NULL AND given_key IS NOT NULL
      AND phone_type IS DISTINCT FROM 'landline'
), by_name_and_address AS (
    -- Name and postcode alone never merge: namesakes live in the same town. The name may
    -- be written either way round.
    SELECT record_key,
           min(record_key) OVER (PARTITION BY name_pair, postal_code, street_number) AS anchor
    FROM stage.id_records
    WHERE name_pair IS NOT NULL AND postal_code IS NOT NULL AND street_number IS NOT NULL
), by_name_street_and_town AS (
    -- The whole street address in the same town, for sheets typed without a postcode.
    SELECT record_key,
           min(record_key) OVER (
               PARTITION BY name_pair, street_number, street_name, locality_key) AS anchor
    FROM stage.id_records
    WHERE name_pair IS NOT NULL AND street_number IS NOT NULL AND street_name IS NOT NULL
      AND locality_key IS NOT NULL
)
SELECT record_key AS a, anchor AS b, 'platform_id' AS rule, NULL::DOUBLE AS match_probability
FROM by_platform_id WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'email', NULL FROM by_email WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'mobile+name', NULL FROM by_mobile_and_name WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'name+postcode+street', NULL FROM by_name_and_address WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'name+street+town', NULL FROM by_name_street_and_town WHERE record_key <> anchor;
