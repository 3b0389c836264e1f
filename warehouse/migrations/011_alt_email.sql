-- A second address a record carries (a form with two Email columns): identity links on it
-- like on the first, so the person behind both addresses is one person.
ALTER TABLE stg_source_records ADD COLUMN alt_email_key VARCHAR;
