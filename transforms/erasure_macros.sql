-- step: erasure_macros
-- reads: clean_email(), email_key()
-- writes: erasure_email_hashes(), erasure_phone_text()
-- params: -
-- udfs: -

-- Macros erasure and the suppression purge share, kept in the warehouse like macros.sql's.

-- The hashes an address is compared by: as given (trimmed, lower case; suppressions kept
-- from before migration 010 hold these) and its match key (email_key: Gmail dots, +tags
-- and googlemail.com folded, as identity joins). NULLs for what is not an address.
CREATE OR REPLACE MACRO erasure_email_hashes(e) AS list_filter(
    [sha256(nullif(lower(trim(e)), '')), sha256(email_key(clean_email(e)))],
    lambda h: h IS NOT NULL);

-- The text staging hands the phone parser and keys phone_parses by (staging.sql,
-- _phone_texts): values of only digits and phone punctuation lose the punctuation.
CREATE OR REPLACE MACRO erasure_phone_text(raw) AS CASE
    WHEN regexp_full_match(raw, '\s*([pP]:)?[\s0-9+().\-/]*')
        THEN regexp_replace(raw, '[^0-9+]', '', 'g')
    ELSE raw
END;
