-- step: referrals
-- reads: stage.referral_candidates, stage.referral_claims, person_sources,
--     stg_source_records, clean_email(), email_key(), name_norm(), referral_code()
-- writes: stage.referrals, stage.referral_stats
-- params: -
-- udfs: -

-- Who recruited whom: each action that another person referred, with the recruiter.
-- Reads what each platform's activities.sql offers (stage.referral_candidates, all of
-- them as one): an action's referral codes (the first tried first) and a "who referred
-- you" answer; and the codes their people own (stage.referral_claims).
--
-- A code is `ref-` and a code, compared case-insensitively with `-` and `_` equal. A claim
-- of rank 1 beats one of rank 2 (on Action Network: a code carried in a custom field or
-- issued by Groundswell, before `ref-` and the first 8 characters of a person's id; see
-- connectors/action_network/activities.sql). A code two people claim is no one's.
--
-- An answer names the recruiter by email (compared on the email match key), else by a
-- referral code, else by the exact full name when exactly one person has it.
--
-- Nobody recruits themselves: a person's own code on their own action is not a referral.

-- The referral codes in use, on actions and in answers.
CREATE OR REPLACE TEMP TABLE _codes_used AS
SELECT DISTINCT code FROM (
    SELECT referral_code(code) AS code FROM stage.referral_candidates
    UNION ALL SELECT referral_code(second_code) FROM stage.referral_candidates
    UNION ALL SELECT referral_code(regexp_extract(answer, '(?i)\bref[-_][0-9a-z][0-9a-z_-]*'))
    FROM stage.referral_candidates WHERE answer IS NOT NULL
) WHERE code IS NOT NULL;

-- Each code in use and its owner (NULL when two people claim it or nobody does).
CREATE OR REPLACE TEMP TABLE _referral_codes AS
WITH owners AS (
    SELECT c.code, c.rank, c.how, ps.person_id
    FROM stage.referral_claims c
    JOIN person_sources ps USING (source, source_record_id)
    WHERE c.code IN (SELECT code FROM _codes_used)
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
    email_key(clean_email(regexp_extract(answer, '[^\s<>()\[\],;:"'']+@[^\s<>()\[\],;:"'']+'))) AS answer_email,
    referral_code(regexp_extract(answer, '(?i)\bref[-_][0-9a-z][0-9a-z_-]*')) AS answer_code,
    name_norm(answer) AS answer_name
FROM stage.referral_candidates
WHERE answer IS NOT NULL;

CREATE OR REPLACE TABLE stage.referrals AS
WITH by_code AS (
    -- The `source` code first, then the `referrer` code.
    SELECT a.source, a.source_record_id, a.person_id,
           coalesce(cs.person_id, cr.person_id) AS recruiter,
           'referral code' AS method
    FROM stage.referral_candidates a
    LEFT JOIN _referral_codes cs ON cs.code = referral_code(a.code)
    LEFT JOIN _referral_codes cr ON cr.code = referral_code(a.second_code)
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
    SELECT f.source, f.source_record_id, f.person_id,
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
SELECT source, source_record_id, person_id, recruiter, method
FROM by_code
WHERE recruiter <> person_id
UNION ALL
-- A code on the action itself comes first: one referral per record.
SELECT source, source_record_id, person_id, recruiter, method
FROM by_answer a
WHERE recruiter IS NOT NULL AND recruiter <> person_id
  AND NOT EXISTS (
      SELECT 1 FROM by_code c
      WHERE c.source = a.source AND c.source_record_id = a.source_record_id
        AND c.recruiter <> c.person_id);

-- Counts for the run's metadata (never personal data).
CREATE OR REPLACE TABLE stage.referral_stats AS
SELECT
    (SELECT count(*) FROM _codes_used) AS referral_codes_seen,
    (SELECT count(*) FROM _referral_codes WHERE person_id IS NOT NULL) AS referral_codes_matched,
    (SELECT count(*) FROM _referral_codes WHERE people > 1) AS referral_codes_ambiguous,
    (SELECT count(*) FROM stage.referrals WHERE method = 'referral code') AS referrals_by_code,
    (SELECT count(*) FROM stage.referrals WHERE method LIKE 'form answer%') AS referrals_by_form_answer,
    (SELECT count(*) FROM _form_referral_answers) AS form_referral_answers;
