-- step: referrals
-- reads: stage.an_actions, stage.form_rows, person_sources, raw_action_network,
--     stg_source_records, sync_ledger, clean_email(), email_key(), name_norm(),
--     referral_code()
-- writes: stage.referrals, stage.referral_stats
-- params: -
-- udfs: -

-- Who recruited whom: each action that another person referred, with the recruiter.
-- Runs after activity_sources.sql (its stage.an_actions and stage.form_rows).
--
-- Action Network: an action's `action_network:referrer_data` carries a `source` (a free
-- campaign code from ?source=) and a `referrer` code. Either may be a person's referral
-- code: `ref-` and a code, compared case-insensitively with `-` and `_` equal. A code
-- belongs to the Action Network person who carries it in a custom field (the value is the
-- code, whatever the field is called; Groundswell issues one to each person it pushes to
-- Action Network, see sync_plan.sql); failing that, `ref-` and the first 8 characters of
-- a person's Action Network id is that person's code. A code two people claim is no one's.
--
-- Forms: a "who referred you" answer (the `referred_by` field) names the recruiter by
-- email (compared on the email match key), else by a referral code, else by the exact
-- full name when exactly one person has it.
--
-- Nobody recruits themselves: a person's own code on their own action is not a referral.

-- The referral codes in use, on actions and in form answers.
CREATE OR REPLACE TEMP TABLE _codes_used AS
SELECT DISTINCT code FROM (
    SELECT referral_code(code_source) AS code FROM stage.an_actions
    UNION ALL SELECT referral_code(code_referrer) FROM stage.an_actions
    UNION ALL SELECT referral_code(regexp_extract(referred_by, '(?i)\bref[-_][0-9a-z][0-9a-z_-]*'))
    FROM stage.form_rows WHERE referred_by IS NOT NULL
) WHERE code IS NOT NULL;

-- Each code in use and its owner (NULL when two people claim it or nobody does).
CREATE OR REPLACE TEMP TABLE _referral_codes AS
WITH written AS (
    -- The latest version of each person who ever had a code-like custom field value.
    SELECT record_id, payload
    FROM raw_action_network
    WHERE resource = 'people'
      AND record_id IN (
          SELECT record_id FROM raw_action_network
          WHERE resource = 'people'
            AND regexp_matches(CAST(payload -> '$.custom_fields' AS VARCHAR), 'ref[-_]', 'i'))
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
), claimed AS (
    SELECT referral_code(value) AS code, record_id AS person_uuid, 1 AS rank,
           'custom field' AS how
    FROM (SELECT record_id,
                 unnest(map_values(from_json(payload -> '$.custom_fields',
                                             '"MAP(VARCHAR, VARCHAR)"'))) AS value
          FROM written)
    WHERE referral_code(value) IN (SELECT code FROM _codes_used)
    UNION ALL
    -- Codes Groundswell issued and Action Network confirmed, before they are read back.
    SELECT referral_code(state), member_key, 1, 'issued by groundswell'
    FROM sync_ledger
    WHERE destination = 'action_network' AND kind = 'field'
      AND referral_code(state) IN (SELECT code FROM _codes_used)
    UNION ALL
    SELECT 'ref-' || lower(left(source_record_id, 8)), source_record_id, 2, 'action network id'
    FROM person_sources
    WHERE source = 'action_network'
      AND 'ref-' || lower(left(source_record_id, 8)) IN (SELECT code FROM _codes_used)
), owners AS (
    SELECT c.code, c.rank, c.how, ps.person_id
    FROM claimed c
    JOIN person_sources ps ON ps.source = 'action_network' AND ps.source_record_id = c.person_uuid
    -- The strongest claim on each code wins.
    QUALIFY c.rank = min(c.rank) OVER (PARTITION BY c.code)
), owned AS (
    SELECT code, min(person_id) AS person_id, count(DISTINCT person_id) AS people,
           any_value(how) AS how
    FROM owners
    GROUP BY code
)
SELECT u.code,
       CASE WHEN o.people = 1 THEN o.person_id END AS person_id,
       coalesce(o.people, 0) AS people,
       o.how
FROM _codes_used u
LEFT JOIN owned o USING (code);

-- Form answers naming who referred the person.
CREATE OR REPLACE TEMP TABLE _form_referral_answers AS
SELECT
    source, source_record_id, person_id,
    email_key(clean_email(regexp_extract(referred_by, '[^\s<>()\[\],;:"'']+@[^\s<>()\[\],;:"'']+'))) AS answer_email,
    referral_code(regexp_extract(referred_by, '(?i)\bref[-_][0-9a-z][0-9a-z_-]*')) AS answer_code,
    name_norm(referred_by) AS answer_name
FROM stage.form_rows
WHERE referred_by IS NOT NULL;

CREATE OR REPLACE TABLE stage.referrals AS
WITH by_code AS (
    -- The `source` code first, then the `referrer` code.
    SELECT a.resource, a.record_id AS source_record_id, a.person_id,
           coalesce(cs.person_id, cr.person_id) AS recruiter,
           'referral code' AS method
    FROM stage.an_actions a
    LEFT JOIN _referral_codes cs ON cs.code = referral_code(a.code_source)
    LEFT JOIN _referral_codes cr ON cr.code = referral_code(a.code_referrer)
    WHERE a.person_id IS NOT NULL
      AND coalesce(cs.person_id, cr.person_id) IS NOT NULL
), emails AS (
    SELECT s.email_key, min(ps.person_id) AS person_id, count(DISTINCT ps.person_id) AS people
    FROM stg_source_records s
    JOIN person_sources ps USING (source, source_record_id)
    WHERE s.email_key IN (SELECT answer_email FROM _form_referral_answers)
    GROUP BY s.email_key
), names AS (
    SELECT s.given_norm || ' ' || s.family_norm AS full_name,
           min(ps.person_id) AS person_id, count(DISTINCT ps.person_id) AS people
    FROM stg_source_records s
    JOIN person_sources ps USING (source, source_record_id)
    WHERE s.given_norm IS NOT NULL AND s.family_norm IS NOT NULL
      AND s.given_norm || ' ' || s.family_norm IN (SELECT answer_name FROM _form_referral_answers)
    GROUP BY 1
), by_answer AS (
    SELECT f.source_record_id, f.person_id,
           CASE WHEN e.people = 1 THEN e.person_id
                WHEN c.person_id IS NOT NULL THEN c.person_id
                WHEN f.answer_email IS NULL AND n.people = 1 THEN n.person_id END AS recruiter,
           CASE WHEN e.people = 1 THEN 'form answer: email'
                WHEN c.person_id IS NOT NULL THEN 'form answer: code'
                WHEN f.answer_email IS NULL AND n.people = 1 THEN 'form answer: name' END AS method
    FROM _form_referral_answers f
    LEFT JOIN emails e ON e.email_key = f.answer_email
    LEFT JOIN _referral_codes c ON c.code = f.answer_code
    LEFT JOIN names n ON n.full_name = f.answer_name
)
SELECT 'action_network' AS source, source_record_id, person_id, recruiter, method
FROM by_code
WHERE recruiter <> person_id
UNION ALL
SELECT 'forms', source_record_id, person_id, recruiter, method
FROM by_answer
WHERE recruiter IS NOT NULL AND recruiter <> person_id;

-- Counts for the run's metadata (never personal data).
CREATE OR REPLACE TABLE stage.referral_stats AS
SELECT
    (SELECT count(*) FROM _codes_used) AS referral_codes_seen,
    (SELECT count(*) FROM _referral_codes WHERE person_id IS NOT NULL) AS referral_codes_matched,
    (SELECT count(*) FROM _referral_codes WHERE people > 1) AS referral_codes_ambiguous,
    (SELECT count(*) FROM stage.referrals WHERE source = 'action_network') AS referrals_by_code,
    (SELECT count(*) FROM stage.referrals WHERE source = 'forms') AS referrals_by_form_answer,
    (SELECT count(*) FROM _form_referral_answers) AS form_referral_answers;
