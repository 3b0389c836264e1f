-- One row per thing a person did. Action types are what the ladder counts as an action;
-- `joined` only marks when a platform first knew them.
CREATE OR REPLACE TEMP TABLE _activities AS
SELECT
    ps.person_id,
    s.source,
    s.source_record_id,
    CASE s.source WHEN 'forms' THEN 'form_submission' ELSE 'joined' END AS activity_type,
    s.created_at AS occurred_at,
    CASE s.source WHEN 'forms' THEN s.file_name END AS object,
    CASE s.source WHEN 'mailchimp' THEN 'email' ELSE 'web' END AS channel,
    NULL::DECIMAL(12, 2) AS amount,
    NULL::VARCHAR AS referred_by_person_id
FROM stg_source_records s
JOIN person_sources ps USING (source, source_record_id);
