-- What to change on Mailchimp so each member carries their tier tag: the desired tags
-- minus what the ledger says was confirmed. $namespace, $tiers (rungs pushed to Mailchimp).
CREATE OR REPLACE TEMP TABLE _mailchimp_tier_plan AS
WITH members AS (
    -- Only people who are already members: a sync never creates contacts here.
    SELECT ps.person_id, s.source_record_id AS member_key
    FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE s.source = 'mailchimp' AND coalesce(s.email_status, '') <> 'archived'
), desired AS (
    SELECT m.member_key, m.person_id, $namespace || 'tier:' || l.tier AS tag
    FROM members m JOIN ladder l USING (person_id)
    WHERE list_contains($tiers, l.tier)
), pushed AS (
    SELECT member_key, person_id, tag
    FROM sync_ledger
    WHERE destination = 'mailchimp' AND state = 'active'
      AND starts_with(tag, $namespace || 'tier:')
)
SELECT d.member_key, d.person_id, d.tag, true AS active
FROM desired d ANTI JOIN pushed p USING (member_key, tag)
UNION ALL
SELECT p.member_key, coalesce(m.person_id, p.person_id), p.tag, false AS active
FROM pushed p
JOIN members m USING (member_key)
ANTI JOIN desired d USING (member_key, tag);
