-- step: macros
-- reads: -
-- writes: utc_ts(), form_ts(), clean_email(), email_key(), name_norm(), address_norm(),
--     street_parts(), street_name_key(), consent_text(), consent_refused(),
--     consent_yes_words(), consent_yes_rest(), consent_names(), consent_qualified(),
--     consent_answer(), answer_norm(), says_yes(), attended_answer(), referral_code(),
--     version_order()
-- params: -
-- udfs: -

-- Value macros every step that reads raw records shares, so staging and activities
-- normalise exactly alike. They are kept in the warehouse (main schema), so every later
-- step reads them by name.

-- The order of a raw record's versions, latest last: by the platform's modified time (a
-- version without one is the oldest), then by when it was loaded. Each record's latest
-- version is its arg_max(rowid, version_order(...)): the row is chosen by number first and
-- its payload read once, where a window sorted every payload (and spilled at 10M records).
CREATE OR REPLACE MACRO version_order(modified_at, loaded_at) AS
    (coalesce(modified_at, '-infinity'::TIMESTAMP), loaded_at);

CREATE OR REPLACE MACRO utc_ts(s) AS
    CAST(TRY_CAST(nullif(trim(s), '') AS TIMESTAMPTZ) AS TIMESTAMP);

-- Form tools write local, locale-formatted times: try the layouts they use.
CREATE OR REPLACE MACRO form_ts(s) AS coalesce(
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M:%S'),
    try_strptime(nullif(trim(s), ''), '%m/%d/%Y %H:%M'),
    TRY_CAST(nullif(trim(s), '') AS TIMESTAMP),
    utc_ts(s),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y %I:%M %p'),
    try_strptime(nullif(trim(s), ''), '%b %d, %Y'),
    try_strptime(nullif(trim(s), ''), '%d/%m/%Y %H:%M:%S'));

-- The address to send to: trimmed, lower case, and plausibly an address at all.
CREATE OR REPLACE MACRO clean_email(e) AS CASE
    WHEN regexp_full_match(lower(trim(e)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN lower(trim(e))
END;

-- The match key folds what mail providers treat as the same mailbox.
CREATE OR REPLACE MACRO email_key(e) AS CASE
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
CREATE OR REPLACE MACRO name_norm(s) AS nullif(trim(regexp_replace(regexp_replace(
    regexp_replace(lower(strip_accents(s)), '[\p{Pd}_/,]', ' ', 'g'),
    '[^\pL\pN\s]', '', 'g'), '\s+', ' ', 'g')), '');

-- An address line compared as a whole: upper case, punctuation as spaces, spaces collapsed.
CREATE OR REPLACE MACRO address_norm(s) AS
    nullif(trim(regexp_replace(upper(strip_accents(s)), '[^\pL\pN]+', ' ', 'g')), '');

-- The first line without its flat, apartment or unit part ('APT 4', 'FLAT 3', 'SUITE
-- 200', '#4'), split into a leading house number and the street up to the next comma.
-- Typed-up sheets run street and town together ('12 Oak St Springfield'): words after a
-- street suffix (and a direction) are the locality, not the street; a trailing state and
-- postcode are dropped from it, and it has three letters at least (a lone 'NW' is the
-- street's). Upper case; '' for a part that is not there.
CREATE OR REPLACE MACRO street_parts(s) AS list_transform([regexp_extract(
    regexp_replace(regexp_replace(upper(strip_accents(s)),
        '\b(APT|APARTMENT|UNIT|STE|SUITE|FLAT|FLR|FLOOR|RM|ROOM|BLDG|BUILDING)\b\.?\s*'
            || '(NO\b\.?\s*)?#?\s*([0-9]+[A-Z]?(-[0-9A-Z]+)?|[A-Z][0-9]*)\b',
        ' ', 'g'),
        '#\s*[0-9A-Z][0-9A-Z-]*', ' ', 'g'),
    '^[\s,;]*(?:([0-9]+[A-Z]?(?:-[0-9]+[A-Z]?)?)\b)?[\s,;]*'
        || '(?:([^\s,;]+(?:\s+[^\s,;]+)*?\s+(?:ST|STREET|AVE|AVENUE|AV|RD|ROAD|DR|DRIVE|LN'
        || '|LANE|BLVD|BOULEVARD|CT|COURT|PL|PLACE|TER|TERRACE|HWY|HIGHWAY|PKWY|PARKWAY|CIR'
        || '|CIRCLE|SQ|SQUARE|CRES|CRESCENT|WAY)\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?)'
        || '[\s,;]+([^\s,;0-9][^,;0-9]{2,}?)(?:\s+[A-Z]{2})?(?:\s+[0-9][0-9-]*)?\s*(?:[,;].*)?$'
        || '|([^,;]*))',
    ['number', 'street_then_town', 'locality', 'street'])],
    lambda p: {'number': p.number,
               'street': CASE WHEN p.street_then_town <> '' THEN p.street_then_town
                              ELSE p.street END,
               'locality': p.locality})[1];

-- A street name as a key: apostrophes and full stops dropped, other punctuation as spaces,
-- the common suffixes and directions abbreviated.
CREATE OR REPLACE MACRO street_name_key(s) AS nullif(array_to_string(list_transform(
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

-- Consent answers on forms ("Keep me updated by email?", "Can we text you?"), read as
-- 'yes', 'no' or NULL (blank or unclear: changes nothing). The text is compared in lower
-- case, accents and apostrophes dropped ("Don't" is "dont"), other punctuation as spaces.
CREATE OR REPLACE MACRO consent_text(v) AS nullif(trim(regexp_replace(
    regexp_replace(lower(strip_accents(trim(v))), '[''\x{2018}\x{2019}`]', '', 'g'),
    '[^\pL\pN]+', ' ', 'g')), '');

-- A refusal first: whatever follows it ("No, but maybe later") cannot make it consent.
-- "Not now" refuses too; "maybe", "not sure", "don't know", "n/a" are unclear.
CREATE OR REPLACE MACRO consent_refused(t) AS
    t IN ('n', '0')
    OR regexp_matches(t, '^(no|non|nein|nope|nah|nay|false|off|unchecked|unticked|never'
        || '|decline|declined|disagree|i disagree|i do not|i dont|do not|dont|please do not|please dont'
        || '|please stop|please remove|please unsubscribe|unsubscribe|opt out|opted out|stop'
        || '|remove me|not now|not right now|not at this time|not for now|not today'
        || '|not interested|not at all|i decline|i refuse|refuse|withdraw)\b');

-- A yes: its first words, and what follows them (the qualifier, read per channel); NULL
-- when the answer does not start with a yes.
CREATE OR REPLACE MACRO consent_yes_words() AS
    '^(?:yes|yeah|yep|yup|yea|sure|ok|okay|true|checked|ticked|agree|agreed|i agree'
    || '|i consent|consent|consented|i do|opt in|opted in|subscribe|subscribe me|sign me up'
    || '|of course|absolutely|definitely|certainly|please do|please|count me in'
    || '|keep me updated|go ahead|si|oui|ja)\b(.*)$';
CREATE OR REPLACE MACRO consent_yes_rest(t) AS CASE
    WHEN t IN ('y', '1', 'x', 'on') THEN ''
    WHEN regexp_matches(t, consent_yes_words()) THEN regexp_extract(t, consent_yes_words(), 1)
END;

-- The words naming a channel ('email' or 'sms') in a qualifier.
CREATE OR REPLACE MACRO consent_names(t, channel) AS regexp_matches(t, CASE channel
    WHEN 'email' THEN '\b(e ?mails?|e ?mailing|mail|newsletters?|inbox)\b'
    ELSE '\b(texts?|texting|sms|messages?|messaging|phone|calls?|mobile|cell|whatsapp)\b' END);

-- A qualified yes is read for the channel asked: "Yes, but not by text" is a yes to email
-- and a no to texts; "Yes, only by email" a no to texts; a yes with a refusal that names
-- no channel ("Yes, but not now") is unclear.
CREATE OR REPLACE MACRO consent_qualified(rest, channel) AS CASE
    WHEN regexp_matches(rest, '\b(not|no|dont|never|stop|without|except|unsubscribe|remove'
                              || '|withdraw|withdrawn|opt out)\b') THEN CASE
        WHEN consent_names(rest, channel) THEN 'no'
        WHEN consent_names(rest, CASE channel WHEN 'email' THEN 'sms' ELSE 'email' END)
            THEN 'yes'
        END
    WHEN regexp_matches(rest, '\bonly\b')
         AND consent_names(rest, CASE channel WHEN 'email' THEN 'sms' ELSE 'email' END)
         AND NOT consent_names(rest, channel) THEN 'no'
    ELSE 'yes'
END;

-- The answer for one channel ('email' or 'sms'): 'yes', 'no' or NULL.
CREATE OR REPLACE MACRO consent_answer(v, channel) AS CASE
    WHEN consent_text(v) IS NULL THEN
        CASE WHEN trim(v) IN ('✓', '✔', '✅', '☑', '☑️') THEN 'yes' END
    WHEN regexp_matches(consent_text(v),
                        '\b(maybe|not sure|unsure|dont know|do not know|dont mind|undecided)\b')
        THEN NULL
    WHEN consent_refused(consent_text(v)) THEN 'no'
    WHEN consent_yes_rest(consent_text(v)) IS NOT NULL THEN consent_qualified(
        regexp_replace(consent_yes_rest(consent_text(v)), '\bwhy not\b', '', 'g'), channel)
END;

-- Answers on form exports. A volunteer question says yes with anything but a refusal
-- ("Door knocking;Phone banking" is a yes); attendance says checked in, or only registered.
CREATE OR REPLACE MACRO answer_norm(v) AS
    nullif(trim(regexp_replace(lower(trim(v)), '[\s._]+', ' ', 'g')), '');
CREATE OR REPLACE MACRO says_yes(v) AS
    answer_norm(v) IS NOT NULL AND answer_norm(v) NOT IN (
        'no', 'n', 'false', '0', 'none', 'nope', 'no thanks', 'no thank you', 'not now',
        'not right now', 'not at this time', 'maybe', 'maybe later', 'not sure', 'unsure',
        'n/a', 'na', '-', '--', 'not interested', 'unchecked', 'off');
CREATE OR REPLACE MACRO attended_answer(v) AS CASE
    WHEN answer_norm(v) IN ('checked in', 'checked-in', 'checkedin', 'check in', 'attended',
                            'yes', 'y', 'true', '1', 'x', 'present', 'showed', 'showed up',
                            'here', '✓', '✔', '✅', 'checked') THEN 'attended'
    WHEN answer_norm(v) IN ('attending', 'registered', 'going', 'rsvp', 'rsvped', 'rsvp''d',
                            'accepted', 'confirmed', 'booked') THEN 'registered'
END;

-- A person's referral code (`ref-` and a code, `-` and `_` equal), lower case; NULL when
-- the text is not one (referrals.sql says whose it is).
CREATE OR REPLACE MACRO referral_code(s) AS CASE
    WHEN regexp_full_match(lower(trim(s)), 'ref[-_][0-9a-z][0-9a-z_-]*')
        THEN replace(lower(trim(s)), '_', '-')
END;
