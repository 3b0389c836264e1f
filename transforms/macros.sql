-- Value macros every step that reads raw records shares, so staging and activities
-- normalise exactly alike. Temp macros live on one connection: run this first.

CREATE OR REPLACE TEMP MACRO utc_ts(s) AS
    CAST(TRY_CAST(nullif(trim(s), '') AS TIMESTAMPTZ) AS TIMESTAMP);

-- Form tools write local, locale-formatted times: try the layouts they use.
CREATE OR REPLACE TEMP MACRO form_ts(s) AS coalesce(
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M:%S'),
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M'),
    TRY_CAST(nullif(trim(s), '') AS TIMESTAMP),
    utc_ts(s),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y %I:%M %p'),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y'),
    try_strptime(nullif(trim(s), ''), '%d/%m/%Y %H:%M:%S'));

-- The address to send to: trimmed, lower case, and plausibly an address at all.
CREATE OR REPLACE TEMP MACRO clean_email(e) AS CASE
    WHEN regexp_full_match(lower(trim(e)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN lower(trim(e))
END;

-- The match key folds what mail providers treat as the same mailbox.
CREATE OR REPLACE TEMP MACRO email_key(e) AS CASE
    WHEN e IS NULL THEN NULL
    WHEN split_part(e, '@', 2) IN ('gmail.com', 'googlemail.com')
        THEN replace(split_part(split_part(e, '@', 1), '+', 1), '.', '') || '@gmail.com'
    WHEN split_part(e, '@', 2) IN ('outlook.com', 'hotmail.com', 'live.com', 'icloud.com',
                                   'me.com', 'fastmail.com', 'protonmail.com', 'proton.me')
        THEN split_part(split_part(e, '@', 1), '+', 1) || '@' || split_part(e, '@', 2)
    ELSE e
END;

-- Names as keys: lower case, accents stripped, dashes, slashes and commas as spaces, other
-- punctuation dropped (O'Brien -> obrien), spaces collapsed.
CREATE OR REPLACE TEMP MACRO name_norm(s) AS nullif(trim(regexp_replace(regexp_replace(
    regexp_replace(lower(strip_accents(s)), '[\p{Pd}_/,]', ' ', 'g'),
    '[^\pL\pN\s]', '', 'g'), '\s+', ' ', 'g')), '');

-- An address line compared as a whole: upper case, punctuation as spaces, spaces collapsed.
CREATE OR REPLACE TEMP MACRO address_norm(s) AS
    nullif(trim(regexp_replace(upper(strip_accents(s)), '[^\pL\pN]+', ' ', 'g')), '');

-- The first line without its flat, apartment or unit part ('APT 4', 'FLAT 3', 'SUITE
-- 200', '#4'), split into a leading house number and the street up to the next comma.
CREATE OR REPLACE TEMP MACRO street_parts(s) AS regexp_extract(
    regexp_replace(regexp_replace(upper(strip_accents(s)),
        '\b(APT|APARTMENT|UNIT|STE|SUITE|FLAT|FLR|FLOOR|RM|ROOM|BLDG|BUILDING)\b\.?\s*'
            || '(NO\b\.?\s*)?#?\s*([0-9]+[A-Z]?(-[0-9A-Z]+)?|[A-Z][0-9]*)\b',
        ' ', 'g'),
        '#\s*[0-9A-Z][0-9A-Z-]*', ' ', 'g'),
    '^[\s,;]*(?:([0-9]+[A-Z]?(?:-[0-9]+[A-Z]?)?)\b)?[\s,;]*([^,;]*)',
    ['number', 'street']);

-- A street name as a key: apostrophes and full stops dropped, other punctuation as spaces,
-- the common suffixes and directions abbreviated.
CREATE OR REPLACE TEMP MACRO street_name_key(s) AS nullif(array_to_string(list_transform(
    string_split(trim(regexp_replace(regexp_replace(s, '[''\x{2019}.]', '', 'g'),
                                     '[^\pL\pN]+', ' ', 'g')), ' '),
    lambda w: CASE w
        WHEN 'STREET' THEN 'ST' WHEN 'AVENUE' THEN 'AVE' WHEN 'AV' THEN 'AVE'
        WHEN 'ROAD' THEN 'RD' WHEN 'DRIVE' THEN 'DR' WHEN 'LANE' THEN 'LN'
        WHEN 'BOULEVARD' THEN 'BLVD' WHEN 'COURT' THEN 'CT' WHEN 'PLACE' THEN 'PL'
        WHEN 'TERRACE' THEN 'TER' WHEN 'HIGHWAY' THEN 'HWY' WHEN 'PARKWAY' THEN 'PKWY'
        WHEN 'CIRCLE' THEN 'CIR' WHEN 'SQUARE' THEN 'SQ' WHEN 'CRESCENT' THEN 'CRES'
        WHEN 'NORTH' THEN 'N' WHEN 'SOUTH' THEN 'S' WHEN 'EAST' THEN 'E' WHEN 'WEST' THEN 'W'
        ELSE w END), ' '), '');

-- Action Network taggings as of the last complete read of them (a tagging removed on the
-- platform is gone from it): the person's uuid, the tag's name, the tagging's id and record.
CREATE OR REPLACE TEMP MACRO current_taggings() AS TABLE
SELECT t.payload ->> '$."groundswell:person_id"' AS person_uuid,
       tg.payload ->> '$.name' AS tag,
       t.record_id AS tagging_id,
       t.payload
FROM raw_action_network t
JOIN raw_action_network tg
  ON tg.resource = 'tags' AND tg.batch_id = t.batch_id
 AND tg.record_id = t.payload ->> '$."groundswell:tag_id"'
WHERE t.resource = 'taggings'
  AND t.batch_id = (SELECT cursor_value FROM sync_cursors
                    WHERE source = 'action_network' AND resource = 'taggings#current_batch');
