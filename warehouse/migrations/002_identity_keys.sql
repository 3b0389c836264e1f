-- Identity keys on staged records. transforms/staging.sql fills them; rows staged before
-- this migration keep NULLs until staging next runs (every run rebuilds the table).
-- Lower case, accents stripped, punctuation removed, spaces collapsed; NULL for a
-- placeholder name ('test', 'n/a', ...).
ALTER TABLE stg_source_records ADD COLUMN given_norm VARCHAR;
ALTER TABLE stg_source_records ADD COLUMN family_norm VARCHAR;
-- The nickname-canonical first word of given_norm: bill, billy, will -> william.
ALTER TABLE stg_source_records ADD COLUMN given_key VARCHAR;
-- test@test.com, noreply@...: kept in email, with no email_key.
ALTER TABLE stg_source_records ADD COLUMN email_placeholder BOOLEAN;
-- The E.164 number to match on: NULL when not possible or a placeholder.
ALTER TABLE stg_source_records ADD COLUMN phone_key VARCHAR;
-- libphonenumber's is_valid_number; NULL when there is no phone at all.
ALTER TABLE stg_source_records ADD COLUMN phone_valid BOOLEAN;
-- mobile, landline, fixed_or_mobile, voip, other; NULL when unknown.
ALTER TABLE stg_source_records ADD COLUMN phone_type VARCHAR;
-- From the first address line: '12A' and 'HIGH ST'; NULL for the organisation's address.
ALTER TABLE stg_source_records ADD COLUMN street_number VARCHAR;
ALTER TABLE stg_source_records ADD COLUMN street_name VARCHAR;
-- The platforms' own ids: action_network:<uuid> (and any others listed), mailchimp:<id>.
ALTER TABLE stg_source_records ADD COLUMN platform_ids VARCHAR[];
-- Nothing to link on: no usable email, phone, given or family name.
ALTER TABLE stg_source_records ADD COLUMN is_empty BOOLEAN;

