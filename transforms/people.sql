-- The golden record: one row per person_id, best values by source priority (from the
-- identity configuration, in _source_priority) then recency,
-- consent rolled up per channel (an opt-out anywhere suppresses that channel everywhere).
CREATE OR REPLACE TEMP TABLE _people AS
WITH src AS (
    SELECT
        ps.person_id,
        s.*,
        coalesce(sp.priority, 0) AS priority,
        s.email_status IN ('unsubscribed', 'cleaned', 'bouncing', 'previous bounce',
                           'spam complaint', 'previous spam complaint') AS email_opted_out,
        s.phone_status IN ('unsubscribed', 'bouncing', 'spam complaint') AS phone_opted_out
    FROM stg_source_records s
    JOIN person_sources ps USING (source, source_record_id)
    LEFT JOIN _source_priority sp USING (source)
), rolled AS (
    SELECT
        person_id,
        first(given_name ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE given_name IS NOT NULL) AS given_name,
        first(family_name ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE family_name IS NOT NULL) AS family_name,
        first(email ORDER BY email_status = 'subscribed' DESC, priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE email IS NOT NULL AND NOT email_opted_out) AS usable_email,
        first(email ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE email IS NOT NULL) AS any_email,
        first(phone ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE phone IS NOT NULL) AS phone,
        first(address_line ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE address_line IS NOT NULL) AS address_line,
        first(locality ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE locality IS NOT NULL) AS locality,
        first(region ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE region IS NOT NULL) AS region,
        first(postal_code ORDER BY priority DESC, modified_at DESC NULLS LAST)
            FILTER (WHERE postal_code IS NOT NULL) AS postal_code,
        coalesce(bool_or(email_opted_out), false) AS email_suppressed,
        coalesce(bool_or(phone_opted_out), false) AS phone_suppressed,
        coalesce(bool_or(email IS NOT NULL AND email_status = 'subscribed'), false) AS email_subscribed,
        coalesce(bool_or(phone IS NOT NULL AND phone_status = 'subscribed'), false) AS phone_subscribed,
        list_sort(list_distinct(list(source))) AS sources,
        list_sort(list(source || ':' || source_record_id)) AS source_ids,
        count(*) AS source_records,
        list_sort(list_distinct(flatten(list(platform_tags)))) AS platform_tags,
        min(created_at) AS first_seen,
        greatest(max(modified_at), max(created_at)) AS last_seen
    FROM src
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
    r.email_suppressed,
    r.phone_suppressed,
    r.email_subscribed AND NOT r.email_suppressed AS email_reachable,
    r.phone_subscribed AND NOT r.phone_suppressed AS phone_reachable,
    r.sources,
    r.source_ids,
    r.source_records,
    r.platform_tags,
    r.first_seen,
    r.last_seen,
    reg.created_at
FROM rolled r
JOIN person_registry reg USING (person_id);
