"""Erasure: a person removed from the warehouse, leaving only the hashes of their match keys
(folded addresses, E.164 phones) so they are never imported again (`make forget EMAIL=...`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from transforms import destinations, phones, platform_parts, steps
from transforms.placeholders import DEFAULT_PHONES
from warehouse import forgotten, platform_sql
from warehouse.load import get_cursor, set_cursor, split_statements, transaction

# Where the purge of re-landed rows keeps how far it read (sync_cursors).
CURSOR = "erasure"

# What each platform's contacts.sql lists (connectors/<platform>/contacts.sql): every
# address ('email'), phone ('phone') and record key ('record_key', `<platform>:<id>`) a raw
# row carries, the record it belongs to, when the row landed, and whether the row is a
# link (it points at a contact record: dropped alone when it carries a suppressed key).
CONTACTS_SHAPE = (
    "NULL::VARCHAR AS source, NULL::VARCHAR AS record, NULL::VARCHAR AS kind, "
    "NULL::VARCHAR AS value, NULL::TIMESTAMP AS loaded_at, NULL::BOOLEAN AS link"
)
LANDED_SHAPE = "NULL::TIMESTAMP AS loaded_at"

# The outbound items Groundswell holds for a contact: each becomes a removal (tags) or a
# reset to empty (fields) on the platform before the warehouse forgets the person.
UNDO_SQL = """
WITH taggings AS (
    -- The platform's ids of tags read apart from the contacts (a removal by id, for people
    -- a destination knows without an address).
    SELECT destination, member_key, tag AS item, any_value(remote_id) AS remote_id
    FROM stage.destination_taggings
    WHERE remote_id IS NOT NULL
    GROUP BY ALL
)
SELECT l.destination, l.member_key, l.person_id, l.item, l.kind, l.segment,
       CASE WHEN l.kind = 'tag' THEN 'remove' ELSE 'set' END AS op,
       CASE WHEN l.kind = 'tag' THEN NULL ELSE '' END AS value,
       false AS journeys,
       coalesce(s.email, p.email) AS email,
       coalesce(l.remote_id, t.remote_id) AS remote_id,
       'forget' AS run_id
FROM sync_ledger l
LEFT JOIN stg_source_records s
       ON s.source = l.destination AND s.source_record_id = l.member_key
LEFT JOIN people p ON p.person_id = l.person_id
LEFT JOIN taggings t ON t.destination = l.destination AND t.member_key = l.member_key
     AND t.item = l.item
WHERE ((l.kind = 'tag' AND l.state = 'active') OR (l.kind = 'field' AND l.state <> ''))
  AND (l.person_id IN (SELECT person_id FROM stage.forget_people)
       OR l.destination || ':' || l.member_key IN (SELECT record_key FROM stage.forget_keys))
ORDER BY ALL
"""


@dataclass
class Erasure:
    people: int  # person_ids forgotten
    records: int  # source records deleted
    undo: pd.DataFrame  # Groundswell's tags and fields to take off the platforms


def email_hash(email: str = "", sha256: str = "") -> str:
    """The SHA-256 (hex) of the address's match key (trimmed, lower case, Gmail dots, +tags
    and googlemail.com folded as identity joins), from the address or as given. Refuses
    anything that is neither an address nor such a hash."""
    if sha256:
        digest = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("forget: email_sha256 must be 64 hexadecimal characters")
        return digest
    cleaned = (email or "").strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", cleaned):
        raise ValueError(
            "forget: give the person's email address, e.g. make forget EMAIL=someone@example.org"
        )
    return hashlib.sha256(_match_key(cleaned).encode("utf-8")).hexdigest()


# Person ids as identity_assign.sql makes them.
PERSON_ID = re.compile(r"p_[0-9a-f]{16}")


@dataclass(frozen=True)
class Target:
    """Who to forget, by exactly one identifier: the SHA-256 of an email's or a phone's
    match key (never the value itself), or a person id."""

    email_hash: str = ""
    phone_hash: str = ""
    person_id: str = ""

    def __post_init__(self) -> None:
        given = [v for v in (self.email_hash, self.phone_hash, self.person_id) if v]
        if len(given) != 1:
            raise ValueError("forget: give exactly one of an email, a phone or a person id")

    @property
    def what(self) -> str:
        """How messages name the identifier (never its value)."""
        if self.email_hash:
            return "that email address"
        return "that phone number" if self.phone_hash else "that person id"

    @property
    def params(self) -> dict[str, str]:
        """The parameters of erasure_find.sql; an empty one matches nothing."""
        return {"hash": self.email_hash, "phone_hash": self.phone_hash, "person_id": self.person_id}


def phone_hash(
    phone: str = "",
    sha256: str = "",
    region: str | None = None,
    placeholders: Iterable[str] = DEFAULT_PHONES,
) -> str:
    """The SHA-256 (hex) of the phone's E.164 form, parsed as staging parses it (in the
    default region unless it starts with +), or as given. Refuses a placeholder number and
    anything that is neither a phone number nor such a hash."""
    if sha256:
        digest = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("forget: phone_sha256 must be 64 hexadecimal characters")
        return digest
    digits = re.sub(r"\D", "", phone or "")
    if digits and (digits in _placeholder_digits(placeholders) or len(set(digits)) == 1):
        raise ValueError(
            "forget: that phone number is a placeholder people type when they have none (see "
            "placeholders in identity.yaml); forgetting it would erase everyone who typed it. "
            "Nothing was deleted: forget the person by their own phone, email or person id."
        )
    e164 = phones.to_e164(phone, phones.region_code(region))
    if e164 is None:
        raise ValueError(
            "forget: that is not a phone number (too short, or letters); give the person's "
            "number, e.g. make forget PHONE='+1 202 555 0143' (without a +country code it is "
            "read in DEFAULT_PHONE_REGION)"
        )
    return hashlib.sha256(e164.encode("utf-8")).hexdigest()


def is_placeholder_phone(digest: str, numbers: Iterable[str], region: str | None = None) -> bool:
    """Whether the hash is of a placeholder phone's E.164 form (`1234567890`)."""
    e164s = (phones.to_e164(n, phones.region_code(region)) for n in numbers)
    return digest in {hashlib.sha256(e.encode()).hexdigest() for e in e164s if e}


def _placeholder_digits(numbers: Iterable[str]) -> set[str]:
    """The placeholder numbers by their digits, with and without a leading 1."""
    digits = {re.sub(r"\D", "", n) for n in numbers}
    return digits | {"1" + d for d in digits}


def person_id_check(person_id: str) -> str:
    """The person id, trimmed; refuses anything not shaped like one (`p_` and 16 hex)."""
    cleaned = (person_id or "").strip().lower()
    if not PERSON_ID.fullmatch(cleaned):
        raise ValueError(
            "forget: a person id is p_ followed by 16 hexadecimal characters, as the "
            "person_id column of people and the exports show, e.g. make forget "
            "PERSON_ID=p_0123456789abcdef"
        )
    return cleaned


def is_placeholder(digest: str, addresses: Iterable[str]) -> bool:
    """Whether the hash is of one of these placeholder addresses (`none@none.com`), as
    given or folded: forgetting it would drop everyone who ever typed it."""
    full = [a for a in addresses if not a.startswith("@") and not a.endswith("@")]
    return any(
        digest in (email_hash(a), hashlib.sha256(a.strip().lower().encode()).hexdigest())
        for a in full
    )


def _match_key(address: str) -> str:
    """The address folded by macros.sql's email_key, the very macro staging keys on; the
    address itself where it is not a plausible one (no key)."""
    # An in-memory connection with only the address macros: no warehouse is opened.
    with duckdb.connect() as con:
        for statement in split_statements((steps.HERE / "macros.sql").read_text()):
            if re.search(r"MACRO (clean_email|email_key)\(", statement):
                con.execute(statement)
        row = con.execute("SELECT email_key(clean_email(?))", [address]).fetchone()
    return row[0] if row and row[0] else address


def find(con: duckdb.DuckDBPyConnection, target: str | Target) -> Erasure:
    """Who and what the identifier (an address by its hash, a phone by its hash, a person
    id) reaches, and what must come off the platforms; nothing is deleted yet."""
    if isinstance(target, str):
        target = Target(email_hash=target)
    steps.run(con, "macros")
    steps.run(con, "erasure_macros")
    steps.run(con, "erasure_find", target.params)
    _destination_taggings(con)
    people = con.execute("SELECT count(*) FROM stage.forget_people").fetchall()[0][0]
    records = con.execute("SELECT count(*) FROM stage.forget_records").fetchall()[0][0]
    return Erasure(int(people), int(records), con.execute(UNDO_SQL).fetchdf())


def _destination_taggings(con: duckdb.DuckDBPyConnection) -> None:
    """What each destination holds now (UNDO_SQL reads the tags' ids); a warehouse never
    staged holds no destination's state, so nothing is known to take off by id."""
    try:
        destinations.read_state(con)
    except steps.MissingInput:
        platform_parts.union_view(
            con,
            f"{steps.STAGE}.destination_taggings",
            destinations.PARTS["destination_taggings"],
            [],
        )


def forget(
    con: duckdb.DuckDBPyConnection,
    target: str | Target,
    now: datetime,
    default_phone_region: str | None = None,
    keeper: Path | None = None,
) -> Erasure:
    """Delete everything the warehouse holds on the identifier's people, and any other
    landed record carrying one of their keys, in one transaction; keep only the hashes of
    their match keys as suppressed. Every intermediate in the `stage` schema goes too:
    they hold copies of people's data, and the next run rebuilds them. The hashes are kept
    first in the keeper beside the warehouse (`keeper`, by default the one beside the
    connection's file), outside its backups, so a restored backup is erased again."""
    with _phones_registered(con, default_phone_region) as region:
        found = find(con, target)
        keeper = keeper or _keeper_of(con)
        if keeper is not None:
            # Intent first: a forget killed after this still ends up in the keeper.
            forgotten.remember_forget(con, keeper, now)
        with transaction(con):
            steps.run(con, "erasure", {"now": now})
            purge_named(con)  # their raw records and what points at them
            _purge(con, region, None)  # every landed row, against the new keys
            steps.clear_stage(con)
    con.execute("CHECKPOINT")  # write the deletions through to the database file
    return found


def _keeper_of(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The forgotten people's keeper beside the connection's warehouse file (none in memory)."""
    path = forgotten.database_path(con)
    return forgotten.keeper_path(path) if path is not None else None


# People of a restored warehouse who carry a kept hash: by their person id, or by a record
# carrying a kept address, phone (only on a record with no address: households share
# phones, as in suppressed.sql), platform id, or name + postcode + street number key.
KEPT_PEOPLE_SQL = """
WITH emails AS (SELECT key_hash FROM _kept_hashes WHERE kind IN ('email', 'email_key')),
phones AS (SELECT key_hash FROM _kept_hashes WHERE kind = 'phone_key'),
ids AS (SELECT key_hash FROM _kept_hashes WHERE kind = 'record_key'),
names AS (SELECT key_hash FROM _kept_hashes WHERE kind = 'name_address')
SELECT DISTINCT person_id FROM (
    SELECT person_id FROM people
    WHERE sha256(person_id) IN (SELECT key_hash FROM _kept_hashes WHERE kind = 'person_id')
    UNION ALL
    SELECT ps.person_id FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE list_has_any(erasure_email_hashes(s.email_raw), (SELECT list(key_hash) FROM emails))
       OR sha256(s.email_key) IN (SELECT key_hash FROM emails)
       OR sha256(s.alt_email_key) IN (SELECT key_hash FROM emails)
       OR (s.email_key IS NULL AND sha256(s.phone_key) IN (SELECT key_hash FROM phones))
       OR list_has_any(list_transform(s.platform_ids, lambda x: sha256(x)),
                       (SELECT list(key_hash) FROM ids))
       OR sha256(s.given_key || '|' || s.family_norm || '|' || s.postal_code || '|'
                 || s.street_number) IN (SELECT key_hash FROM names)
)
WHERE person_id IN (SELECT person_id FROM people)
ORDER BY person_id
"""


def forget_kept(
    con: duckdb.DuckDBPyConnection,
    kept: list[forgotten.Kept],
    now: datetime,
    default_phone_region: str | None = None,
    keeper: Path | None = None,
) -> int:
    """Erase again, in a restored warehouse, everyone carrying a hash the keeper holds (a
    backup older than their erasure): the kept suppressions go back first, then each person
    found is forgotten as `make forget` does, and every landed row is purged against the
    whole list. Returns how many people were erased again."""
    if not kept:
        return 0
    forgotten.reapply(con, kept)
    steps.run(con, "macros")
    steps.run(con, "erasure_macros")
    hashes = pd.DataFrame([(k.kind, k.key_hash) for k in kept], columns=["kind", "key_hash"])
    con.register("_kept_frame", hashes)
    con.execute("CREATE OR REPLACE TEMP TABLE _kept_hashes AS SELECT * FROM _kept_frame")
    con.unregister("_kept_frame")
    try:
        people = [row[0] for row in con.execute(KEPT_PEOPLE_SQL).fetchall()]
    except duckdb.CatalogException:
        people = []  # a warehouse never staged holds nobody
    finally:
        con.execute("DROP TABLE IF EXISTS _kept_hashes")
    for person_id in people:
        forget(con, Target(person_id=person_id), now, default_phone_region, keeper)
    if not people:
        purge_suppressed(con, default_phone_region)
    return len(people)


def purge_suppressed(
    con: duckdb.DuckDBPyConnection, default_phone_region: str | None = None
) -> dict[str, int]:
    """Delete raw rows of forgotten people that were landed again, under any form of their
    address or phone (see suppressed.sql); returns the records dropped per source. Reads
    only rows landed since the last purge, unless the suppressions changed since."""
    if not con.execute("SELECT count(*) FROM erasure_suppressions").fetchall()[0][0]:
        return {}
    with _phones_registered(con, default_phone_region) as region:
        steps.run(con, "macros")
        steps.run(con, "erasure_macros")
        with transaction(con):
            return _purge(con, region, _purged_through(con))


@contextmanager
def _phones_registered(
    con: duckdb.DuckDBPyConnection, default_phone_region: str | None
) -> Iterator[str]:
    """The phone parser for the region staging uses (the last staging's when none is
    given), registered before any statement leaves a result open on the connection, and
    its workers stopped after; gives the region."""
    if not default_phone_region:
        rows = con.execute("SELECT any_value(region) FROM phone_parses").fetchall()
        default_phone_region = rows[0][0] if rows else None
    region = phones.region_code(default_phone_region)
    with phones.register(con, region):
        yield region


def contacts_platforms(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Each registered platform's contacts views (connectors/<platform>/contacts.sql), then
    `stage.contacts_platforms` and `stage.landed_platforms`, all of them as one; returns
    the platforms listed (a platform without contacts SQL is not purged)."""
    purges = platform_sql.files("purge")
    for platform, path in platform_sql.files("contacts").items():
        if platform not in purges:
            # Its records would be counted as dropped and stay.
            raise ValueError(
                f"{path}: platform {platform} lists contacts for the suppression purge but has "
                f"no purge.sql next to it to delete its rows of them"
            )
    written = platform_parts.run_role(
        con, "contacts", {"contacts": CONTACTS_SHAPE, "landed": LANDED_SHAPE}, required="contacts"
    )
    platform_parts.union_view(
        con, f"{steps.STAGE}.contacts_platforms", CONTACTS_SHAPE, written["contacts"]
    )
    platform_parts.union_view(
        con, f"{steps.STAGE}.landed_platforms", LANDED_SHAPE, written["landed"]
    )
    return [name.rsplit("contacts_", 1)[1] for name in written["contacts"]]


def purge_platforms(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[str]:
    """Each registered platform's purge.sql: deletes its raw rows of the records in
    `stage.purge_records` and the rows pointing at them, and rows landed after `since` (None:
    every row) that carry a suppressed record key; then drops `stage.purge_records` (it
    names forgotten people's records). Returns the platforms that purged."""
    purged = []
    for platform, path in platform_sql.files("purge").items():
        if not steps.header(path).get("writes"):
            raise ValueError(
                f"{path}: a platform's purge SQL declares what it deletes from in its header "
                "(`-- writes: raw_<platform>`)"
            )
        purged.append(platform)
    platform_parts.run_role(con, "purge", params={"since": since})
    con.execute(f"DROP TABLE IF EXISTS {steps.STAGE}.purge_records")
    return purged


def purge_named(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the platforms' raw rows of the records named in `stage.purge_records` (and
    the rows pointing at them) only: no other row is compared with the suppressions."""
    contacts_platforms(con)
    purge_platforms(con, _landed_through(con))  # nothing landed after: no other row


def _purge(con: duckdb.DuckDBPyConnection, region: str, since: datetime | None) -> dict[str, int]:
    """Run suppressed.sql over rows landed from `since` (None: all), then each platform's
    purge of the records it found, then record how far it read; returns the records it
    dropped per source."""
    contacts_platforms(con)
    steps.run(
        con,
        "suppressed",
        {"since": since, "phone_region": region, "phone_parser": phones.PARSER},
    )
    purge_platforms(con, since)
    counts = con.execute(
        "SELECT source, records FROM stage.suppressed_by_source ORDER BY source"
    ).fetchall()
    set_cursor(con, CURSOR, "suppressions", _suppressions_signature(con))
    set_cursor(con, CURSOR, "purged_through", _landed_through(con).isoformat())
    return {source: int(n) for source, n in counts}


def _purged_through(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Where the last purge stopped reading, if it read against the same suppressions."""
    if get_cursor(con, CURSOR, "suppressions") != _suppressions_signature(con):
        return None  # a new erasure, a restored backup, a migration: read everything
    through = get_cursor(con, CURSOR, "purged_through")
    return datetime.fromisoformat(through) if through else None


def _suppressions_signature(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the whole suppression list (a few rows a person)."""
    return con.execute(
        "SELECT md5(coalesce(string_agg(kind || ':' || key_hash, ',' ORDER BY key_hash, kind), ''))"
        " FROM erasure_suppressions"
    ).fetchall()[0][0]


def _landed_through(con: duckdb.DuckDBPyConnection) -> datetime:
    """The latest landing time of any row the purge could read (each platform's, from its
    contacts.sql, and the quarantine's)."""
    return con.execute(
        f"""SELECT coalesce(greatest(
               (SELECT max(loaded_at) FROM {steps.STAGE}.landed_platforms),
               (SELECT max(recorded_at) FROM quarantine)), TIMESTAMP '1970-01-01')"""
    ).fetchall()[0][0]
