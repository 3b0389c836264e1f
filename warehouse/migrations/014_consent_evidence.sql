-- Consent per channel is the latest answer across sources (issue 12): people records which
-- answer decided each channel, from which source and when (counts-only evidence; the
-- answer itself is 'yes' or 'no', NULL when no source gave one).
ALTER TABLE people ADD COLUMN email_consent VARCHAR;
ALTER TABLE people ADD COLUMN email_consent_source VARCHAR;
ALTER TABLE people ADD COLUMN email_consent_at TIMESTAMP;
ALTER TABLE people ADD COLUMN email_undeliverable BOOLEAN;
ALTER TABLE people ADD COLUMN phone_consent VARCHAR;
ALTER TABLE people ADD COLUMN phone_consent_source VARCHAR;
ALTER TABLE people ADD COLUMN phone_consent_at TIMESTAMP;
ALTER TABLE people ADD COLUMN phone_undeliverable BOOLEAN;
