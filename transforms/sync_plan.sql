-- The sync plan: for each destination, what Groundswell wants on each contact (its
-- namespaced tier and list tags, the tier merge field, the referral code field) minus
-- what the ledger says the platform confirmed. Only changes are planned.
--
-- Input: _sync_segments(destination, segment, tag, journeys), made from ladder.yaml;
-- the macros of macros.sql.
-- Parameters: $namespace, $run_id, $now, $retry_days, $merge_field (NULL: none),
-- $mc_tiers (rungs pushed to Mailchimp), $code_field (NULL: none), $code_rungs,
-- $mc_new, $an_new (create contacts for people the destination lacks).

-- The contacts each person has on each destination. Archived Mailchimp members are never
-- tagged, but they exist: nobody is ever "added" over an archived (maybe unsubscribed) one.
CREATE OR REPLACE TEMP TABLE _sync_contacts AS
SELECT s.source AS destination, ps.person_id, s.source_record_id AS member_key, s.email,
       s.source = 'mailchimp' AND coalesce(s.email_status, '') = 'archived' AS archived
FROM person_sources ps
JOIN stg_source_records s USING (source, source_record_id)
WHERE s.source IN ('mailchimp', 'action_network');

CREATE OR REPLACE TEMP TABLE _sync_members AS
SELECT destination, person_id, member_key, email FROM _sync_contacts WHERE NOT archived;

-- Consent, per person: an email opt-out anywhere keeps them off Mailchimp's tags.
CREATE OR REPLACE TEMP TABLE _sync_people AS
SELECT person_id, email, coalesce(email_suppressed, false) AS email_suppressed
FROM person_metrics;

-- Everyone each destination should carry in each segment.
CREATE OR REPLACE TEMP TABLE _sync_wanted AS
SELECT g.destination, g.segment, g.tag, g.journeys, sm.person_id,
       -- Fail closed: a person without metrics counts as not consenting.
       g.destination = 'mailchimp' AND coalesce(p.email_suppressed, true) AS no_consent
FROM segment_members sm
JOIN _sync_segments g USING (segment)
LEFT JOIN _sync_people p USING (person_id);

-- New contacts, where configured: people with a usable address the destination lacks.
-- status_if_new is `subscribed` only when a source recorded an email subscription.
CREATE OR REPLACE TEMP TABLE _sync_new AS
WITH lacking AS (
    SELECT DISTINCT w.destination, w.person_id
    FROM _sync_wanted w
    WHERE NOT w.no_consent
      AND ((w.destination = 'mailchimp' AND $mc_new) OR (w.destination = 'action_network' AND $an_new))
      AND NOT EXISTS (SELECT 1 FROM _sync_contacts m
                      WHERE m.destination = w.destination AND m.person_id = w.person_id)
)
SELECT * FROM (
    SELECT l.destination, l.person_id, p.email,
           CASE WHEN l.destination = 'mailchimp' THEN md5(lower(trim(p.email)))
                ELSE 'new:' || l.person_id END AS member_key,
           CASE WHEN EXISTS (SELECT 1 FROM person_sources ps JOIN stg_source_records s
                             USING (source, source_record_id)
                             WHERE ps.person_id = l.person_id AND s.email_status = 'subscribed')
                THEN 'subscribed' ELSE 'pending' END AS status_if_new
    FROM lacking l
    JOIN _sync_people p USING (person_id)
    WHERE p.email IS NOT NULL AND NOT p.email_suppressed
      -- Nor over an archived member with the same address.
      AND NOT EXISTS (SELECT 1 FROM _sync_contacts c
                      WHERE c.destination = 'mailchimp' AND l.destination = 'mailchimp'
                        AND c.member_key = md5(lower(trim(p.email))))
)
-- Action Network has no double opt-in: it only gains people who gave consent elsewhere.
WHERE destination = 'mailchimp' OR status_if_new = 'subscribed';

CREATE OR REPLACE TEMP TABLE _sync_targets AS
SELECT destination, person_id, member_key, email FROM _sync_members
UNION ALL
SELECT destination, person_id, member_key, email FROM _sync_new;

-- What should be on each contact: tags (state 'active') and fields (state = value).
CREATE OR REPLACE TEMP TABLE _sync_desired AS
SELECT w.destination, t.member_key, w.person_id, w.tag AS item, 'tag' AS kind, w.segment,
       'active' AS state, w.journeys, t.email
FROM _sync_wanted w
JOIN _sync_targets t USING (destination, person_id)
WHERE NOT w.no_consent
UNION ALL
-- The tier merge field on Mailchimp ('' for people on rungs not pushed there).
SELECT 'mailchimp', m.member_key, m.person_id, $merge_field, 'field', 'field:' || $merge_field,
       CASE WHEN list_contains($mc_tiers, l.tier) THEN l.tier ELSE '' END, false, m.email
FROM _sync_targets m
JOIN ladder l USING (person_id)
JOIN _sync_people p USING (person_id)
WHERE $merge_field IS NOT NULL AND m.destination = 'mailchimp' AND NOT p.email_suppressed
UNION ALL
-- Each Action Network person's referral code: the one already in the field, else one
-- derived from the stable person_id, so it never changes.
SELECT 'action_network', m.member_key, m.person_id, $code_field, 'field', 'field:' || $code_field,
       coalesce(nullif(trim(c.code), ''), 'ref-' || left(md5(m.person_id), 8)), false, m.email
FROM _sync_targets m
JOIN ladder l USING (person_id)
LEFT JOIN (
    SELECT record_id, payload -> '$.custom_fields' ->> $code_field AS code
    FROM raw_action_network
    WHERE resource = 'people'
    QUALIFY row_number() OVER (
        PARTITION BY record_id ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1
) c ON c.record_id = m.member_key
WHERE $code_field IS NOT NULL AND m.destination = 'action_network'
  AND list_contains($code_rungs, l.tier);

-- What the ledger says each contact carries now.
CREATE OR REPLACE TEMP TABLE _sync_pushed AS
SELECT destination, member_key, person_id, item, kind, segment, state, remote_id
FROM sync_ledger
WHERE (kind = 'tag' AND state = 'active' AND starts_with(item, $namespace))
   OR kind = 'field';

-- Operations refused with a 4xx (Groundswell's own refusals included): not retried until
-- `retry_days` have passed, and never again once refused three times. A change of mind
-- (add, then remove) is a different operation and is sent.
CREATE OR REPLACE TEMP TABLE _sync_refused AS
SELECT destination, member_key, coalesce(item, 'member') AS item, operation AS op
FROM sync_rejections
WHERE status BETWEEN 400 AND 499 AND status <> 429
GROUP BY ALL
HAVING max(rejected_at) > $now - to_days(CAST($retry_days AS INTEGER)) OR count(*) >= 3;

-- Action Network tagging ids from the last complete read, for removals by tagging.
CREATE OR REPLACE TEMP TABLE _sync_an_taggings AS
SELECT person_uuid AS member_key, tag AS item, tagging_id AS remote_id
FROM current_taggings()
WHERE starts_with(tag, $namespace);

CREATE OR REPLACE TEMP TABLE _sync_candidates AS
-- Contacts to create first (their tags follow in the same push).
SELECT destination, member_key, person_id, 'member' AS item, 'member' AS kind,
       NULL AS segment, 'create' AS op, status_if_new AS value, false AS journeys, email,
       NULL AS remote_id
FROM _sync_new
UNION ALL
SELECT d.destination, d.member_key, d.person_id, d.item, 'tag', d.segment, 'add', NULL,
       d.journeys, d.email, NULL
FROM _sync_desired d
ANTI JOIN _sync_pushed p USING (destination, member_key, item)
WHERE d.kind = 'tag'
UNION ALL
-- Removals only reach contacts that still exist there.
SELECT p.destination, p.member_key, coalesce(m.person_id, p.person_id), p.item, 'tag',
       p.segment, 'remove', NULL, coalesce(g.journeys, false), m.email,
       coalesce(p.remote_id, tg.remote_id)
FROM _sync_pushed p
JOIN _sync_members m USING (destination, member_key)
LEFT JOIN _sync_segments g ON g.destination = p.destination AND g.tag = p.item
LEFT JOIN _sync_an_taggings tg ON p.destination = 'action_network'
     AND tg.member_key = p.member_key AND tg.item = p.item
WHERE p.kind = 'tag'
  AND NOT EXISTS (SELECT 1 FROM _sync_desired d
                  WHERE d.destination = p.destination AND d.member_key = p.member_key
                    AND d.item = p.item)
UNION ALL
SELECT d.destination, d.member_key, d.person_id, d.item, 'field', d.segment, 'set', d.state,
       false, d.email, NULL
FROM _sync_desired d
LEFT JOIN _sync_pushed p USING (destination, member_key, item)
WHERE d.kind = 'field' AND d.state IS DISTINCT FROM coalesce(p.state, '')
UNION ALL
-- The tier merge field of a member no longer on the ladder or no longer reachable: emptied.
SELECT p.destination, p.member_key, coalesce(m.person_id, p.person_id), p.item, 'field',
       p.segment, 'set', '', false, m.email, NULL
FROM _sync_pushed p
JOIN _sync_members m USING (destination, member_key)
WHERE p.kind = 'field' AND p.destination = 'mailchimp' AND p.state <> ''
  AND NOT EXISTS (SELECT 1 FROM _sync_desired d
                  WHERE d.destination = p.destination AND d.member_key = p.member_key
                    AND d.item = p.item);

CREATE OR REPLACE TEMP TABLE _sync_plan AS
SELECT c.*, $run_id AS run_id
FROM _sync_candidates c
ANTI JOIN _sync_refused r USING (destination, member_key, item, op)
-- Nothing for a new contact whose creation the platform refused.
WHERE NOT EXISTS (SELECT 1 FROM _sync_refused x
                  WHERE x.destination = c.destination AND x.member_key = c.member_key
                    AND x.item = 'member' AND x.op = 'create');

-- Counts per destination for the plan's metadata and sync_runs.
CREATE OR REPLACE TEMP TABLE _sync_plan_counts AS
WITH dest AS (
    SELECT unnest(['action_network', 'mailchimp']) AS destination
), planned AS (
    SELECT destination,
           count(*) FILTER (WHERE op = 'add') AS adds,
           count(*) FILTER (WHERE op = 'remove') AS removes,
           count(*) FILTER (WHERE op = 'set') AS sets,
           count(*) FILTER (WHERE op = 'create') AS creates,
           count(DISTINCT person_id) AS people,
           count(*) AS operations
    FROM _sync_plan GROUP BY 1
), candidates AS (
    SELECT destination, count(*) AS operations FROM _sync_candidates GROUP BY 1
), unchanged AS (
    SELECT destination, count(*) AS unchanged
    FROM _sync_desired x JOIN _sync_pushed p USING (destination, member_key, item)
    WHERE x.state = p.state GROUP BY 1
), wanted AS (
    SELECT w.destination,
           count(*) FILTER (WHERE w.no_consent) AS skipped_consent,
           count(*) FILTER (WHERE NOT w.no_consent AND t.person_id IS NULL) AS skipped_not_member
    FROM _sync_wanted w
    LEFT JOIN (SELECT DISTINCT destination, person_id FROM _sync_targets) t
           USING (destination, person_id)
    GROUP BY 1
)
SELECT d.destination,
       coalesce(p.adds, 0) AS adds,
       coalesce(p.removes, 0) AS removes,
       coalesce(p.sets, 0) AS sets,
       coalesce(p.creates, 0) AS creates,
       coalesce(u.unchanged, 0) AS unchanged,
       coalesce(w.skipped_consent, 0) AS skipped_consent,
       coalesce(w.skipped_not_member, 0) AS skipped_not_member,
       -- Held back because refused lately (or their contact's creation was).
       coalesce(c.operations, 0) - coalesce(p.operations, 0) AS skipped_rejected,
       coalesce(p.people, 0) AS people
FROM dest d
LEFT JOIN planned p USING (destination)
LEFT JOIN candidates c USING (destination)
LEFT JOIN unchanged u USING (destination)
LEFT JOIN wanted w USING (destination);

-- The guard rails, per destination and segment: how much of what was pushed would go.
CREATE OR REPLACE TEMP TABLE _sync_segment_changes AS
WITH pushed AS (
    SELECT destination, item, count(*) AS pushed FROM _sync_pushed
    WHERE kind = 'tag' GROUP BY ALL
), planned AS (
    SELECT destination, item, segment,
           count(*) FILTER (WHERE op = 'add') AS adds,
           count(*) FILTER (WHERE op = 'remove') AS removes
    FROM _sync_plan WHERE kind = 'tag' GROUP BY ALL
)
SELECT p.destination, p.segment, p.item AS tag, coalesce(x.pushed, 0) AS pushed,
       p.adds, p.removes,
       CASE WHEN coalesce(x.pushed, 0) > 0 THEN p.removes / x.pushed END AS remove_share
FROM planned p
LEFT JOIN pushed x USING (destination, item);
