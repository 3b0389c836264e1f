-- Erasure suppressions hold the hash of every match key identity joins on, not only the
-- address given: the folded address (Gmail dots, +tags, googlemail.com) and the phone in
-- E.164, so a forgotten person is not re-imported under a variant of either.
-- kind: 'email_key' (SHA-256 of the folded address, transforms/macros.sql email_key),
-- 'phone_key' (SHA-256 of the E.164 number), 'record_key' (SHA-256 of a platform id,
-- 'action_network:<uuid>' or 'mailchimp:<id>'), 'email' (SHA-256 of the trimmed,
-- lower-cased address as given: every row kept from before this migration; compared with
-- an address both as given and folded).
ALTER TABLE erasure_suppressions RENAME COLUMN email_hash TO key_hash;
ALTER TABLE erasure_suppressions ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'email';
