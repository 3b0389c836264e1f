-- The records to resolve and the deterministic links between them. Each rule links every
-- record in a group to the group's smallest key (a star), so edges grow with n, not n^2.

CREATE OR REPLACE TEMP TABLE _id_records AS
SELECT
    source || ':' || source_record_id AS record_key,
    source,
    source_record_id,
    file_name,
    row_number,
    email_key,
    phone,
    nullif(lower(strip_accents(regexp_replace(given_name, '[^[:alpha:] ]', '', 'g'))), '') AS given_norm
FROM stg_source_records;

CREATE OR REPLACE TEMP TABLE _id_edges AS
WITH by_email AS (
    SELECT record_key, min(record_key) OVER (PARTITION BY email_key) AS anchor
    FROM _id_records
    WHERE email_key IS NOT NULL
), by_phone_and_name AS (
    -- A phone alone never merges: households and reassigned mobiles share numbers.
    SELECT record_key, min(record_key) OVER (PARTITION BY phone, given_norm) AS anchor
    FROM _id_records
    WHERE phone IS NOT NULL AND given_norm IS NOT NULL
)
SELECT record_key AS a, anchor AS b, 'email' AS rule FROM by_email WHERE record_key <> anchor
UNION ALL
SELECT record_key, anchor, 'phone+name' FROM by_phone_and_name WHERE record_key <> anchor;

CREATE OR REPLACE TEMP TABLE _id_adjacent AS
SELECT a AS record_key, b AS neighbour FROM _id_edges
UNION ALL
SELECT b, a FROM _id_edges;

CREATE OR REPLACE TEMP TABLE _id_labels AS
SELECT record_key, record_key AS label FROM _id_records;
