-- step: nicknames
-- reads: -
-- writes: stage.name_canonical
-- params: $csv
-- udfs: -

-- stage.name_canonical(name, canonical): one canonical given name for every name the `nicknames`
-- package knows, so Bill, Billy and Will all key as william. $csv is its names.csv.
-- The data is many-to-many ('bill has_nickname william' sits beside 'william
-- has_nickname bill'). A name with nicknames of its own is a canonical and maps to
-- itself, unless a name it lists lists it back (bill, william): then, like a name that
-- is only a nickname, it picks among itself and the names it is a nickname of the one
-- with the most nicknames, then the longer, then the first alphabetically. A short list
-- of common English names overrides the pick. Every pick scores at least as high as the
-- name itself, so following picks always ends, at a name that picks itself.

CREATE OR REPLACE TEMP TABLE _nick_pairs AS
SELECT DISTINCT
    regexp_replace(lower(trim(name1)), '[^a-z]', '', 'g') AS parent,
    regexp_replace(lower(trim(name2)), '[^a-z]', '', 'g') AS nickname
FROM read_csv($csv, header = true, auto_detect = false,
              columns = {'name1': 'VARCHAR', 'relationship': 'VARCHAR', 'name2': 'VARCHAR'})
WHERE trim(relationship) = 'has_nickname';

CREATE OR REPLACE TEMP TABLE _nick_overrides AS
SELECT * FROM (VALUES
    ('bill', 'william'), ('billy', 'william'), ('will', 'william'), ('willy', 'william'),
    ('willie', 'william'),
    ('bob', 'robert'), ('bobby', 'robert'), ('rob', 'robert'), ('robbie', 'robert'),
    ('robby', 'robert'),
    ('al', 'alexander'), ('alex', 'alexander'),
    ('tony', 'anthony'),
    ('kate', 'katherine'), ('katie', 'katherine'), ('kathy', 'katherine'),
    ('cathy', 'katherine'), ('catherine', 'katherine'), ('kathryn', 'katherine'),
    ('katharine', 'katherine'),
    ('liz', 'elizabeth'), ('lizzie', 'elizabeth'), ('lizzy', 'elizabeth'),
    ('beth', 'elizabeth'), ('betty', 'elizabeth'), ('betsy', 'elizabeth'),
    ('jim', 'james'), ('jimmy', 'james'),
    ('mike', 'michael'), ('mikey', 'michael'), ('mick', 'michael'),
    ('dick', 'richard'), ('rick', 'richard'), ('ricky', 'richard'), ('rich', 'richard'),
    ('peggy', 'margaret'), ('maggie', 'margaret'), ('meg', 'margaret'),
    ('sue', 'susan'), ('susie', 'susan'),
    ('chuck', 'charles'), ('charlie', 'charles'),
    ('jen', 'jennifer'), ('jenny', 'jennifer'), ('jenn', 'jennifer'),
    ('dan', 'daniel'), ('danny', 'daniel'),
    ('tom', 'thomas'), ('tommy', 'thomas'),
    ('joe', 'joseph'), ('joey', 'joseph'),
    ('dave', 'david'),
    ('steve', 'steven'), ('stevie', 'steven'), ('stephen', 'steven'),
    ('matt', 'matthew'), ('andy', 'andrew'), ('drew', 'andrew'), ('ben', 'benjamin'),
    ('ed', 'edward'), ('eddie', 'edward'), ('ron', 'ronald'), ('don', 'donald'),
    ('greg', 'gregory'), ('jeff', 'jeffrey'), ('larry', 'lawrence'), ('becky', 'rebecca'),
    ('debbie', 'deborah'), ('tim', 'timothy'), ('pete', 'peter'), ('ken', 'kenneth'),
    ('johnny', 'john'), ('abby', 'abigail'), ('molly', 'mary'), ('polly', 'mary'),
    ('ted', 'edward'), ('nicky', 'nicholas'), ('becca', 'rebecca'), ('jerry', 'gerald'),
    ('xander', 'alexander'), ('topher', 'christopher'), ('jonathan', 'jonathan'),
    ('johnathan', 'jonathan'),
    -- Common names in their own right that the data lists only as someone's nickname.
    ('ian', 'ian'), ('erin', 'erin'), ('leah', 'leah'), ('ali', 'ali'), ('noah', 'noah'),
    ('ana', 'ana'), ('maria', 'maria'), ('gail', 'gail'), ('ralph', 'ralph'), ('roy', 'roy'),
    ('clara', 'clara'), ('ellen', 'ellen'), ('esther', 'esther'), ('kenji', 'kenji')
) AS o(name, canonical);

CREATE OR REPLACE TEMP TABLE _nick_step AS
WITH counts AS (
    SELECT parent AS name, count(*) AS nicknames FROM _nick_pairs GROUP BY parent
), names AS (
    SELECT parent AS name FROM _nick_pairs
    UNION SELECT nickname FROM _nick_pairs
    UNION SELECT name FROM _nick_overrides
    UNION SELECT canonical FROM _nick_overrides
), candidates AS (
    -- A name with nicknames of its own is a canonical, unless it and a parent list each
    -- other (the reverse rows: 'bill has_nickname william').
    SELECT p.nickname AS name, p.parent AS candidate
    FROM _nick_pairs p
    WHERE p.nickname NOT IN (SELECT parent FROM _nick_pairs)
       OR EXISTS (SELECT 1 FROM _nick_pairs r
                  WHERE r.parent = p.nickname AND r.nickname = p.parent)
    UNION SELECT name, name FROM names
), picked AS (
    SELECT c.name, c.candidate AS canonical
    FROM candidates c
    LEFT JOIN counts n ON n.name = c.candidate
    QUALIFY row_number() OVER (
        PARTITION BY c.name
        ORDER BY coalesce(n.nicknames, 0) DESC, length(c.candidate) DESC, c.candidate) = 1
)
SELECT p.name,
       CASE
           WHEN o.canonical IS NOT NULL THEN o.canonical
           -- An override's canonical is a canonical: it maps to itself.
           WHEN p.name IN (SELECT canonical FROM _nick_overrides) THEN p.name
           ELSE p.canonical
       END AS canonical
FROM picked p
LEFT JOIN _nick_overrides o USING (name);

CREATE OR REPLACE TABLE stage.name_canonical AS
WITH RECURSIVE walk(name, canonical, depth) AS (
    SELECT name, canonical, 0 FROM _nick_step
    UNION ALL
    SELECT w.name, s.canonical, w.depth + 1
    FROM walk w
    JOIN _nick_step s ON s.name = w.canonical
    WHERE s.canonical <> w.canonical AND w.depth < 20
)
SELECT name, arg_max(canonical, depth) AS canonical
FROM walk
GROUP BY name
ORDER BY name;

DROP TABLE _nick_pairs;
DROP TABLE _nick_overrides;
DROP TABLE _nick_step;
