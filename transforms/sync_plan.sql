-- step: sync_plan
-- reads: stage.sync_segments, stage.destinations, stage.destination_seen,
--     stage.destination_taggings, stage.destination_tag_reads, ladder, people,
--     person_metrics, person_sources, segment_members, stg_source_records, sync_ledger,
--     sync_rejections
-- writes: stage.sync_plan, stage.sync_plan_counts, stage.sync_segment_changes
-- params: $namespace, $run_id, $now, $retry_days, $merge_field, $mc_tiers, $code_field,
--     $code_rungs, $mc_new, $an_new, $propagate
-- udfs: -

-- The sync plan: for each destination, what Groundswell wants on each contact (its
-- namespaced tier and list tags, the tier merge field, the referral code field) minus
-- what the ledger says the platform confirmed. Only changes are planned.
--
-- Input: stage.sync_segments(destination, segment, tag, journeys), made from ladder.yaml;
-- what each destination held when last read (transforms/destinations.py: each platform's
-- destination.sql). The rules below that name a destination are that destination's own.
-- Parameters: $namespace, $run_id, $now, $retry_days, $merge_field (NULL: none),
-- $mc_tiers (rungs pushed to Mailchimp), $code_field (NULL: none), $code_rungs,
-- $mc_new, $an_new (create contacts for people the destination lacks), $propagate
-- (sync.propagate_opt_outs).

-- The contacts each person has on each destination. Archived Mailchimp members are never
-- tagged, but they exist: nobody is ever "added" over an archived (maybe unsubscribed) one.
CREATE OR REPLACE TEMP TABLE _sync_contacts AS
SELECT s.source AS destination, ps.person_id, s.source_record_id AS member_key, s.email,
       s.source = 'mailchimp' AND coalesce(s.email_status, '') = 'archived' AS archived
FROM person_sources ps
JOIN stg_source_records s USING (source, source_record_id)
WHERE s.source IN (SELECT destination FROM stage.destinations);

CREATE OR REPLACE TEMP TABLE _sync_members AS
SELECT destination, person_id, member_key, email FROM _sync_contacts WHERE NOT archived;

-- Consent, per person: an email opt-out anywhere keeps them off Mailchimp's tags; do not
-- contact (an organiser's outcome) off every destination's.
CREATE OR REPLACE TEMP TABLE _sync_people AS
SELECT person_id, email, coalesce(email_suppressed, false) AS email_suppressed,
       do_not_contact
FROM person_metrics;

-- Everyone each destination should carry in each segment.
CREATE OR REPLACE TEMP TABLE _sync_wanted AS
SELECT g.destination, g.segment, g.tag, g.journeys, sm.person_id,
       -- Fail closed: a person without metrics counts as not consenting. Someone an
       -- organiser recorded as not to be contacted carries no tag anywhere.
       coalesce(p.do_not_contact, true)
           OR (g.destination = 'mailchimp' AND coalesce(p.email_suppressed, true)) AS no_consent
FROM segment_members sm
JOIN stage.sync_segments g USING (segment)
LEFT JOIN _sync_people p USING (person_id)
-- Only a platform with a destination.sql is a destination.
WHERE g.destination IN (SELECT destination FROM stage.destinations);

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

-- What each destination showed when it was last read, and when (`seen_at`, the time the
-- copy was landed: landing and pushing share the `warehouse` pool, so no push confirms
-- anything between a read and its landing): the newest copy of each contact, and the tags
-- read apart from them (materialised once: every rule below reads them).
CREATE OR REPLACE TEMP TABLE _sync_seen AS
SELECT * FROM stage.destination_seen;

CREATE OR REPLACE TEMP TABLE _sync_taggings AS
SELECT * FROM stage.destination_taggings;

-- Contacts whose whole set of Groundswell tags is known as of `seen_at`: those whose copy
-- carries its tags, and those a separate read of the tags saw whole.
CREATE OR REPLACE TEMP TABLE _sync_seen_contacts AS
SELECT destination, member_key, seen_at FROM _sync_seen WHERE tags IS NOT NULL
UNION ALL
SELECT destination, member_key, seen_at FROM stage.destination_tag_reads;

-- The Groundswell tags each of them carried then.
CREATE OR REPLACE TEMP TABLE _sync_seen_tags AS
SELECT destination, member_key, item, seen_at FROM (
    SELECT destination, member_key, unnest(tags) AS item, seen_at
    FROM _sync_seen
    UNION ALL
    SELECT destination, member_key, tag, seen_at
    FROM _sync_taggings
)
WHERE starts_with(lower(item), lower($namespace)) AND seen_at IS NOT NULL;

-- Drift: only a read made after the ledger's confirmation of an item says anything about
-- it (an older copy predates the push and would undo it).
-- (a) Tags the ledger says are on a contact that a later read no longer shows: set again.
CREATE OR REPLACE TEMP TABLE _sync_drift_gone AS
SELECT l.destination, l.member_key, l.item
FROM sync_ledger l
JOIN _sync_seen_contacts c USING (destination, member_key)
WHERE l.kind = 'tag' AND l.state = 'active' AND starts_with(l.item, $namespace)
  AND c.seen_at > l.pushed_at
  AND NOT EXISTS (SELECT 1 FROM _sync_seen_tags t
                  WHERE t.destination = l.destination AND t.member_key = l.member_key
                    AND lower(t.item) = lower(l.item));

-- (b) Groundswell tags a read shows that the ledger does not have on (never pushed, or
-- confirmed off before that read): taken into account as carried, so a person who should
-- not carry one has it removed.
CREATE OR REPLACE TEMP TABLE _sync_drift_extra AS
SELECT t.destination, t.member_key, t.item
FROM _sync_seen_tags t
LEFT JOIN sync_ledger l
       ON l.destination = t.destination AND l.member_key = t.member_key
      AND lower(l.item) = lower(t.item) AND l.kind = 'tag'
WHERE l.state IS NULL OR (l.state <> 'active' AND l.pushed_at < t.seen_at);

-- (c) Fields whose value a read after the confirmation shows changed: their value now.
CREATE OR REPLACE TEMP TABLE _sync_drift_fields AS
WITH seen AS (
    SELECT destination, member_key, $merge_field AS item,
           coalesce(fields ->> $merge_field, '') AS value, seen_at
    FROM _sync_seen
    WHERE $merge_field IS NOT NULL AND destination = 'mailchimp'
    UNION ALL
    SELECT destination, member_key, $code_field,
           coalesce(fields ->> $code_field, ''), seen_at
    FROM _sync_seen
    WHERE $code_field IS NOT NULL AND destination = 'action_network'
)
SELECT l.destination, l.member_key, l.item, s.value
FROM sync_ledger l
JOIN seen s USING (destination, member_key, item)
WHERE l.kind = 'field' AND s.seen_at > l.pushed_at AND s.value IS DISTINCT FROM l.state;

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
-- Each Action Network person's referral code: the one already in the field, else the one
-- confirmed before (a code emptied by hand is restored: people may have shared it), else
-- one derived from the stable person_id, so it never changes.
SELECT 'action_network', m.member_key, m.person_id, $code_field, 'field', 'field:' || $code_field,
       coalesce(nullif(trim(c.fields ->> $code_field), ''),
                nullif(k.state, ''), 'ref-' || left(md5(m.person_id), 8)), false, m.email
FROM _sync_targets m
JOIN ladder l USING (person_id)
LEFT JOIN _sync_seen c ON c.destination = m.destination AND c.member_key = m.member_key
LEFT JOIN sync_ledger k
       ON k.destination = 'action_network' AND k.member_key = m.member_key
      AND k.item = $code_field AND k.kind = 'field'
WHERE $code_field IS NOT NULL AND m.destination = 'action_network'
  AND list_contains($code_rungs, l.tier);

-- What each contact carries now: what the ledger says, corrected by what a later read of
-- the platform shows (drift: `drift` marks a row that differs from the ledger).
CREATE OR REPLACE TEMP TABLE _sync_pushed AS
SELECT l.destination, l.member_key, l.person_id, l.item, l.kind, l.segment,
       coalesce(f.value, l.state) AS state, l.state AS ledger_state, l.remote_id,
       f.value IS NOT NULL AS drift
FROM sync_ledger l
LEFT JOIN _sync_drift_fields f USING (destination, member_key, item)
WHERE ((l.kind = 'tag' AND l.state = 'active' AND starts_with(l.item, $namespace))
       OR l.kind = 'field')
  AND NOT EXISTS (SELECT 1 FROM _sync_drift_gone g
                  WHERE g.destination = l.destination AND g.member_key = l.member_key
                    AND g.item = l.item)
UNION ALL
SELECT x.destination, x.member_key, m.person_id, x.item, 'tag', g.segment, 'active', NULL,
       NULL, true
FROM _sync_drift_extra x
LEFT JOIN (SELECT DISTINCT destination, member_key, person_id FROM _sync_members) m
       USING (destination, member_key)
LEFT JOIN (SELECT destination, lower(tag) AS tag, any_value(segment) AS segment
           FROM stage.sync_segments GROUP BY ALL) g
       ON g.destination = x.destination AND g.tag = lower(x.item);

-- Email opt-outs to carry to a person's contacts on the other platforms ($propagate): an
-- unsubscribe or a spam complaint recorded on any source (a form's "no" is staged as
-- unsubscribed); never a bounce. Only contacts still subscribed (or pending) there, not
-- over a subscription given there after the opt-out, and not one already carried.
-- Only a person whose latest answer (people.sql: the consent rule) is still a no: an
-- opt-out a later yes overrode does not travel, and the answer's own date counts, never a
-- record's last change (a merge field Groundswell sets moves that).
CREATE OR REPLACE TEMP TABLE _sync_opt_outs AS
SELECT person_id, email_consent_source AS source, email_consent_at AS opted_out_at
FROM people
WHERE $propagate AND email_consent = 'no' AND email_consent_source IS NOT NULL;

CREATE OR REPLACE TEMP TABLE _sync_unsubscribe AS
SELECT DISTINCT c.destination, c.member_key, c.person_id, c.email
FROM _sync_contacts c
JOIN stg_source_records s ON s.source = c.destination AND s.source_record_id = c.member_key
JOIN _sync_opt_outs o ON o.person_id = c.person_id AND o.source <> c.destination
LEFT JOIN _sync_seen mc ON mc.destination = c.destination AND mc.member_key = c.member_key
WHERE NOT c.archived
  AND ((c.destination = 'mailchimp' AND s.email_status IN ('subscribed', 'pending'))
       OR (c.destination = 'action_network' AND s.email_status = 'subscribed'
           AND c.email IS NOT NULL))
  AND NOT coalesce(coalesce(mc.opted_in_at, s.created_at) > o.opted_out_at, false)
  AND NOT EXISTS (SELECT 1 FROM sync_ledger l
                  WHERE l.destination = c.destination AND l.member_key = c.member_key
                    AND l.kind = 'status' AND l.state = 'unsubscribed'
                    AND l.pushed_at >= coalesce(o.opted_out_at, TIMESTAMP '1970-01-01'));

-- Operations refused with a 4xx (Groundswell's own refusals included): not retried until
-- `retry_days` have passed, and never again once refused three times. A change of mind
-- (add, then remove) is a different operation and is sent.
CREATE OR REPLACE TEMP TABLE _sync_refused AS
SELECT destination, member_key, coalesce(item, 'member') AS item, operation AS op
FROM sync_rejections
WHERE status BETWEEN 400 AND 499 AND status <> 429
GROUP BY ALL
HAVING max(rejected_at) > $now - to_days(CAST($retry_days AS INTEGER)) OR count(*) >= 3;

-- The platform's ids of the tags read (Action Network's taggings), for removals by id.
CREATE OR REPLACE TEMP TABLE _sync_remote_ids AS
SELECT destination, member_key, tag AS item, remote_id
FROM _sync_taggings
WHERE remote_id IS NOT NULL AND starts_with(tag, $namespace);

CREATE OR REPLACE TEMP TABLE _sync_candidates AS
-- Contacts to create first (their tags follow in the same push).
SELECT destination, member_key, person_id, 'member' AS item, 'member' AS kind,
       NULL AS segment, 'create' AS op, status_if_new AS value, false AS journeys, email,
       NULL AS remote_id, false AS drift
FROM _sync_new
UNION ALL
SELECT d.destination, d.member_key, d.person_id, d.item, 'tag', d.segment, 'add', NULL,
       d.journeys, d.email, NULL,
       EXISTS (SELECT 1 FROM _sync_drift_gone g
               WHERE g.destination = d.destination AND g.member_key = d.member_key
                 AND g.item = d.item)
FROM _sync_desired d
WHERE d.kind = 'tag'
  AND NOT EXISTS (SELECT 1 FROM _sync_pushed p
                  WHERE p.destination = d.destination AND p.member_key = d.member_key
                    AND lower(p.item) = lower(d.item))
UNION ALL
-- Removals only reach contacts that still exist there.
SELECT p.destination, p.member_key, coalesce(m.person_id, p.person_id), p.item, 'tag',
       p.segment, 'remove', NULL, coalesce(g.journeys, false), m.email,
       coalesce(p.remote_id, tg.remote_id), p.drift
FROM _sync_pushed p
JOIN _sync_members m USING (destination, member_key)
LEFT JOIN stage.sync_segments g ON g.destination = p.destination AND g.tag = p.item
LEFT JOIN _sync_remote_ids tg ON tg.destination = p.destination
     AND tg.member_key = p.member_key AND lower(tg.item) = lower(p.item)
WHERE p.kind = 'tag'
  AND NOT EXISTS (SELECT 1 FROM _sync_desired d
                  WHERE d.destination = p.destination AND d.member_key = p.member_key
                    AND lower(d.item) = lower(p.item))
UNION ALL
SELECT d.destination, d.member_key, d.person_id, d.item, 'field', d.segment, 'set', d.state,
       false, d.email, NULL, coalesce(p.drift AND d.state = p.ledger_state, false)
FROM _sync_desired d
LEFT JOIN _sync_pushed p USING (destination, member_key, item)
WHERE d.kind = 'field' AND d.state IS DISTINCT FROM coalesce(p.state, '')
UNION ALL
-- The tier merge field of a member no longer on the ladder or no longer reachable: emptied.
SELECT p.destination, p.member_key, coalesce(m.person_id, p.person_id), p.item, 'field',
       p.segment, 'set', '', false, m.email, NULL, p.drift AND p.ledger_state = ''
FROM _sync_pushed p
JOIN _sync_members m USING (destination, member_key)
WHERE p.kind = 'field' AND p.destination = 'mailchimp' AND p.state <> ''
  AND NOT EXISTS (SELECT 1 FROM _sync_desired d
                  WHERE d.destination = p.destination AND d.member_key = p.member_key
                    AND d.item = p.item)
UNION ALL
-- Propagated opt-outs: the one status Groundswell ever sends.
SELECT destination, member_key, person_id, 'email_status', 'status', NULL, 'unsubscribe',
       'unsubscribed', false, email, NULL, false
FROM _sync_unsubscribe;

CREATE OR REPLACE TABLE stage.sync_plan AS
SELECT c.*, $run_id AS run_id
FROM _sync_candidates c
ANTI JOIN _sync_refused r USING (destination, member_key, item, op)
-- Nothing for a new contact whose creation the platform refused.
WHERE NOT EXISTS (SELECT 1 FROM _sync_refused x
                  WHERE x.destination = c.destination AND x.member_key = c.member_key
                    AND x.item = 'member' AND x.op = 'create');

-- Counts per destination for the plan's metadata and sync_runs.
CREATE OR REPLACE TABLE stage.sync_plan_counts AS
WITH dest AS (
    SELECT destination FROM stage.destinations
), planned AS (
    SELECT destination,
           count(*) FILTER (WHERE op = 'add') AS adds,
           count(*) FILTER (WHERE op = 'remove') AS removes,
           count(*) FILTER (WHERE op = 'set') AS sets,
           count(*) FILTER (WHERE op = 'create') AS creates,
           count(*) FILTER (WHERE drift) AS drift_repaired,
           count(*) FILTER (WHERE op = 'unsubscribe') AS opt_outs_propagated,
           count(DISTINCT person_id) AS people,
           count(*) AS operations
    FROM stage.sync_plan GROUP BY 1
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
       coalesce(p.drift_repaired, 0) AS drift_repaired,
       coalesce(p.opt_outs_propagated, 0) AS opt_outs_propagated,
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
CREATE OR REPLACE TABLE stage.sync_segment_changes AS
WITH pushed AS (
    SELECT destination, item, count(*) AS pushed FROM _sync_pushed
    WHERE kind = 'tag' GROUP BY ALL
), planned AS (
    SELECT destination, item, segment,
           count(*) FILTER (WHERE op = 'add') AS adds,
           count(*) FILTER (WHERE op = 'remove') AS removes
    FROM stage.sync_plan WHERE kind = 'tag' GROUP BY ALL
)
SELECT p.destination, p.segment, p.item AS tag, coalesce(x.pushed, 0) AS pushed,
       p.adds, p.removes,
       CASE WHEN coalesce(x.pushed, 0) > 0 THEN p.removes / x.pushed END AS remove_share
FROM planned p
LEFT JOIN pushed x USING (destination, item);
