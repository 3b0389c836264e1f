-- step: people
-- reads: stg_source_records, person_sources, person_registry, stage.source_priority,
--     stage.status_history, people
-- writes: people, stage.people_written
-- params: -
-- udfs: -

-- The golden record: one row per person_id, best values by source priority (from the
-- identity configuration, in stage.source_priority) then recency, and consent per channel.
--
-- Consent, per person and channel (email, phone): the latest answer across sources
-- decides, and a no wins a tie. Answers are a record's status (subscribed: yes;
-- unsubscribed or a spam complaint: no), including the consent answers a platform gives
-- instead of a status (staging.sql turns them into one). A yes counts only on a record
-- with the address (phone) it subscribes. Platforms do not say when a status was given,
-- and a record's last change may be anything (a merge field Groundswell sets), which must
-- never make an old status look new. So a platform that keeps a status history
-- (stage.status_history: each landed version's statuses, connectors/<platform>/
-- status_history.sql) dates a status from the first landed version that showed it after
-- another status. A status shown since the first read, or on a record without a history,
-- counts, for a yes, from when the platform first had the person, for a no, from the
-- record's last change (for a record that is a form row, both are its submission).
-- Deliverability failures (cleaned, bouncing, previous bounce) are not answers: they
-- suppress the channel whatever was answered.
CREATE OR REPLACE TEMP MACRO _consent_status(s) AS CASE
    WHEN s = 'subscribed' THEN 'yes'
    WHEN s IN ('unsubscribed', 'spam complaint', 'previous spam complaint') THEN 'no'
END;

-- The records whose current status is an answer; those of a platform with a status
-- history find their versions there (the join below keeps only them).
CREATE OR REPLACE TEMP TABLE _consent_current AS
SELECT source, source_record_id, email_status, phone_status
FROM stg_source_records
WHERE _consent_status(email_status) IS NOT NULL OR _consent_status(phone_status) IS NOT NULL;

CREATE OR REPLACE TEMP TABLE _consent_since AS
WITH seen AS (
    -- Per record and channel: the last version showing another status, and the versions
    -- showing the current one.
    SELECT v.source, v.source_record_id,
           max(v.modified_at) FILTER (WHERE v.email_status IS DISTINCT FROM c.email_status)
               AS email_other_at,
           list(v.modified_at) FILTER (WHERE v.email_status IS NOT DISTINCT FROM c.email_status)
               AS email_same,
           max(v.modified_at) FILTER (WHERE v.phone_status IS DISTINCT FROM c.phone_status)
               AS phone_other_at,
           list(v.modified_at) FILTER (WHERE v.phone_status IS NOT DISTINCT FROM c.phone_status)
               AS phone_same
    FROM stage.status_history v
    JOIN _consent_current c USING (source, source_record_id)
    GROUP BY ALL
)
SELECT source, source_record_id,
       list_min(list_filter(email_same, lambda t: email_other_at IS NULL OR t > email_other_at))
           AS email_since,
       email_other_at IS NOT NULL AS email_changed,
       list_min(list_filter(phone_same, lambda t: phone_other_at IS NULL OR t > phone_other_at))
           AS phone_since,
       phone_other_at IS NOT NULL AS phone_changed
FROM seen;

CREATE OR REPLACE TEMP TABLE _consent AS
WITH records AS (
    SELECT ps.person_id, s.source, s.source_record_id, s.email, s.phone,
           s.email_status, s.phone_status, s.created_at, s.modified_at
    FROM stg_source_records s
    JOIN person_sources ps USING (source, source_record_id)
    WHERE s.email_status IS NOT NULL OR s.phone_status IS NOT NULL
), statuses AS (
    SELECT person_id, source, source_record_id, 'email' AS channel,
           _consent_status(email_status) AS answer, created_at, modified_at
    FROM records
    WHERE _consent_status(email_status) = 'no'
       OR (_consent_status(email_status) = 'yes' AND email IS NOT NULL)
    UNION ALL
    SELECT person_id, source, source_record_id, 'phone',
           _consent_status(phone_status), created_at, modified_at
    FROM records
    WHERE _consent_status(phone_status) = 'no'
       OR (_consent_status(phone_status) = 'yes' AND phone IS NOT NULL)
), answers AS (
    SELECT person_id, source, channel, answer,
           CASE WHEN coalesce(changed, false) THEN since
                WHEN answer = 'yes' THEN coalesce(created_at, since, modified_at)
                ELSE coalesce(since, modified_at)
           END AS answered_at
    FROM (
        SELECT a.*,
               CASE a.channel WHEN 'email' THEN c.email_since ELSE c.phone_since END AS since,
               CASE a.channel WHEN 'email' THEN c.email_changed ELSE c.phone_changed END
                   AS changed
        FROM statuses a
        LEFT JOIN _consent_since c USING (source, source_record_id)
    )
), decided AS (
    -- A no of unknown date counts as the latest; a yes of unknown date as the oldest.
    SELECT person_id, channel,
           first({'answer': answer, 'source': source, 'at': answered_at}
                 ORDER BY coalesce(answered_at, CASE WHEN answer = 'no'
                                                     THEN 'infinity'::TIMESTAMP END)
                          DESC NULLS LAST,
                          answer = 'no' DESC, source) AS d
    FROM answers
    GROUP BY ALL
), undeliverable AS (
    SELECT person_id,
           bool_or(email_status IN ('cleaned', 'bouncing', 'previous bounce')) AS email,
           bool_or(phone_status = 'bouncing') AS phone
    FROM records
    GROUP BY person_id
)
SELECT u.person_id,
       e.d.answer AS email_consent, e.d.source AS email_consent_source,
       e.d.at AS email_consent_at, coalesce(u.email, false) AS email_undeliverable,
       p.d.answer AS phone_consent, p.d.source AS phone_consent_source,
       p.d.at AS phone_consent_at, coalesce(u.phone, false) AS phone_undeliverable
FROM undeliverable u
LEFT JOIN decided e ON e.person_id = u.person_id AND e.channel = 'email'
LEFT JOIN decided p ON p.person_id = u.person_id AND p.channel = 'phone';

-- In the table's own column order, so that it compares with people row for row below.
CREATE OR REPLACE TEMP TABLE _people AS FROM people LIMIT 0;

INSERT INTO _people BY NAME
WITH src AS (
    SELECT
        ps.person_id,
        s.*,
        coalesce(sp.priority, 0) AS priority,
        -- This record's own address is not the one to show: its status refuses it.
        s.email_status IN ('unsubscribed', 'cleaned', 'bouncing', 'previous bounce',
                           'spam complaint', 'previous spam complaint') AS email_opted_out
    FROM stg_source_records s
    JOIN person_sources ps USING (source, source_record_id)
    LEFT JOIN stage.source_priority sp USING (source)
), ranked AS (
    -- Each record's rank in its person: the highest source, then the latest change;
    -- between records of one source changed at the same moment (rows of one sheet), the
    -- later row, then the larger id, so every run picks the same value. One sort serves
    -- every value below (an ordered aggregate per value sorted each person nine times).
    SELECT
        *,
        row_number() OVER (
            PARTITION BY person_id
            ORDER BY priority DESC, modified_at DESC NULLS LAST, row_number DESC NULLS LAST,
                     source_record_id DESC, source DESC
        ) AS rank
    FROM src
), rolled AS (
    -- Each value from the best-ranked record that has one (arg_min passes over NULLs).
    SELECT
        person_id,
        arg_min(given_name, rank) AS given_name,
        arg_min(family_name, rank) AS family_name,
        -- A subscribed address before any other, then by rank.
        arg_min(email, CASE WHEN email_status = 'subscribed' THEN 0 ELSE 1 END * 4294967296 + rank)
            FILTER (WHERE NOT email_opted_out) AS usable_email,
        arg_min(email, rank) AS any_email,
        arg_min(phone, rank) AS phone,
        arg_min(address_line, rank) AS address_line,
        arg_min(locality, rank) AS locality,
        arg_min(region, rank) AS region,
        arg_min(postal_code, rank) AS postal_code,
        list_sort(list_distinct(list(source))) AS sources,
        list_sort(list(source || ':' || source_record_id)) AS source_ids,
        count(*) AS source_records,
        list_sort(list_distinct(flatten(list(platform_tags)))) AS platform_tags,
        min(created_at) AS first_seen,
        greatest(max(modified_at), max(created_at)) AS last_seen
    FROM ranked
    GROUP BY person_id
)
SELECT
    r.person_id,
    r.given_name,
    r.family_name,
    coalesce(r.usable_email, r.any_email) AS email,
    r.phone,
    r.address_line,
    r.locality,
    r.region,
    r.postal_code,
    coalesce(c.email_consent = 'no' OR c.email_undeliverable, false) AS email_suppressed,
    coalesce(c.phone_consent = 'no' OR c.phone_undeliverable, false) AS phone_suppressed,
    coalesce(c.email_consent = 'yes' AND NOT c.email_undeliverable, false) AS email_reachable,
    coalesce(c.phone_consent = 'yes' AND NOT c.phone_undeliverable, false) AS phone_reachable,
    c.email_consent,
    c.email_consent_source,
    c.email_consent_at,
    coalesce(c.email_undeliverable, false) AS email_undeliverable,
    c.phone_consent,
    c.phone_consent_source,
    c.phone_consent_at,
    coalesce(c.phone_undeliverable, false) AS phone_undeliverable,
    r.sources,
    r.source_ids,
    r.source_records,
    r.platform_tags,
    r.first_seen,
    r.last_seen,
    reg.created_at
FROM rolled r
JOIN person_registry reg USING (person_id)
LEFT JOIN _consent c USING (person_id);

-- Only the golden records that changed are written: on a nightly run few do, and
-- rewriting every row (and the key index) cost more than the query that made them.
CREATE OR REPLACE TEMP TABLE _people_changed AS FROM _people EXCEPT FROM people;

BEGIN TRANSACTION;
DELETE FROM people
WHERE person_id IN (SELECT person_id FROM _people_changed)
   OR person_id NOT IN (SELECT person_id FROM _people);
INSERT INTO people FROM _people_changed;
CREATE OR REPLACE TABLE stage.people_written AS
SELECT count(*) AS rows_written FROM _people_changed;
COMMIT;

DROP TABLE _people;
DROP TABLE _people_changed;

DROP TABLE _consent;
DROP TABLE _consent_current;
DROP TABLE _consent_since;
DROP MACRO _consent_status;
