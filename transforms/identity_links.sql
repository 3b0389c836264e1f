-- step: identity_links
-- reads: stage.id_records, stage.id_edges, stage.id_scored, stage.id_decisions_in
-- writes: stage.id_decisions, stage.id_scored, stage.id_edges
-- params: $link, $review
-- udfs: -

-- The volunteer's review decisions and the probabilistic links join the deterministic
-- ones. stage.id_decisions_in(record_a, record_b, decision, line_number) holds the
-- decisions (transforms/identity.py). $link: the link threshold; $review: the review
-- threshold.

CREATE OR REPLACE TABLE stage.id_decisions AS
SELECT
    least(trim(d.record_a), trim(d.record_b)) AS a,
    greatest(trim(d.record_a), trim(d.record_b)) AS b,
    lower(trim(d.decision)) AS decision,
    d.line_number,
    CASE
        WHEN lower(trim(d.decision)) NOT IN ('accept', 'reject') THEN 'invalid decision'
        WHEN ra.record_key IS NULL OR rb.record_key IS NULL THEN 'unknown record'
        ELSE 'applied'
    END AS status
FROM stage.id_decisions_in d
LEFT JOIN stage.id_records ra ON ra.record_key = trim(d.record_a)
LEFT JOIN stage.id_records rb ON rb.record_key = trim(d.record_b)
-- The last line about a pair wins, as when a decision is corrected further down.
QUALIFY row_number() OVER (
    PARTITION BY least(trim(d.record_a), trim(d.record_b)), greatest(trim(d.record_a), trim(d.record_b))
    ORDER BY d.line_number DESC) = 1;

-- Households share a phone, an address and a surname: the model cannot tell them apart,
-- but different first names can. A pair whose first names conflict (not the same
-- nickname key, not a likely typo, not the same name written surname first) is neither
-- linked nor queued for review. A dropped or transposed letter is a typo (Cara, Clara); a
-- changed one is not (Mark, Mary; Mei, Wei). A name that starts another is its short form
-- (Jon, Jonathan), whichever way the nickname list reads it.
DELETE FROM stage.id_scored
USING stage.id_records ra, stage.id_records rb
WHERE ra.record_key = stage.id_scored.a AND rb.record_key = stage.id_scored.b
  AND ra.given_key IS NOT NULL AND rb.given_key IS NOT NULL
  AND ra.given_key <> rb.given_key
  AND ra.given_fuzzy_key <> rb.given_fuzzy_key
  AND jaro_winkler_similarity(ra.given_norm, rb.given_norm) < 0.9
  AND NOT (least(length(ra.given_norm), length(rb.given_norm)) >= 3
           AND (starts_with(ra.given_norm, rb.given_norm)
                OR starts_with(rb.given_norm, ra.given_norm)
                OR (damerau_levenshtein(ra.given_norm, rb.given_norm) = 1
                    AND (length(ra.given_norm) <> length(rb.given_norm)
                         OR levenshtein(ra.given_norm, rb.given_norm) = 2))))
  AND NOT coalesce(ra.name_pair = rb.name_pair
      OR (jaro_winkler_similarity(ra.given_norm, rb.family_norm) >= 0.9
          AND jaro_winkler_similarity(ra.family_norm, rb.given_norm) >= 0.9), false);

-- Name and postcode alone never join: namesakes live in the same town. A pair with a
-- record known only by name and address joins only at the same house number, or, when
-- one of them has no house number, with its postcode and town agreeing and its names as
-- written (either way round, a slip allowed, a nickname not: Pat is not enough for
-- Patricia here). Otherwise it waits for review, held at the review threshold ($review):
-- two house numbers may be a move, or two people.
UPDATE stage.id_scored SET match_probability = least(match_probability, $review)
FROM stage.id_records ra, stage.id_records rb
WHERE ra.record_key = stage.id_scored.a AND rb.record_key = stage.id_scored.b
  AND (ra.is_name_and_address OR rb.is_name_and_address)
  AND ra.street_number IS DISTINCT FROM rb.street_number
  AND NOT coalesce((ra.street_number IS NULL OR rb.street_number IS NULL)
      AND ra.postal_code = rb.postal_code AND ra.locality_key = rb.locality_key
      AND ((jaro_winkler_similarity(ra.given_norm, rb.given_norm) >= 0.9
            AND jaro_winkler_similarity(ra.family_norm, rb.family_norm) >= 0.9)
           OR (jaro_winkler_similarity(ra.given_norm, rb.family_norm) >= 0.9
               AND jaro_winkler_similarity(ra.family_norm, rb.given_norm) >= 0.9)), false);

INSERT INTO stage.id_edges
SELECT s.a, s.b, 'probabilistic', s.match_probability
FROM stage.id_scored s
LEFT JOIN stage.id_decisions d ON d.a = s.a AND d.b = s.b AND d.status = 'applied'
WHERE s.match_probability >= $link AND d.decision IS DISTINCT FROM 'reject';

INSERT INTO stage.id_edges
SELECT a, b, 'review', NULL FROM stage.id_decisions
WHERE decision = 'accept' AND status = 'applied';
