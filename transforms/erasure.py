"""Erasure: a person removed from the warehouse, leaving only a hashed suppression row so
their address is never imported again (`make forget EMAIL=...`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from transforms import sqlfiles
from warehouse.load import transaction

# The outbound items Groundswell holds for a contact: each becomes a removal (tags) or a
# reset to empty (fields) on the platform before the warehouse forgets the person.
UNDO_SQL = """
WITH taggings AS (
    -- Action Network tagging ids, for people without email.
    SELECT person_uuid AS member_key, tag AS item, any_value(tagging_id) AS remote_id
    FROM current_taggings()
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
LEFT JOIN taggings t ON l.destination = 'action_network' AND t.member_key = l.member_key
     AND t.item = l.item
WHERE ((l.kind = 'tag' AND l.state = 'active') OR (l.kind = 'field' AND l.state <> ''))
  AND (l.person_id IN (SELECT person_id FROM _forget_people)
       OR l.destination || ':' || l.member_key IN (SELECT record_key FROM _forget_keys))
ORDER BY ALL
"""


@dataclass
class Erasure:
    people: int  # person_ids forgotten
    records: int  # source records deleted
    undo: pd.DataFrame  # Groundswell's tags and fields to take off the platforms


def email_hash(email: str = "", sha256: str = "") -> str:
    """The SHA-256 (hex) of the trimmed, lower-cased address, from the address or as given.
    Refuses anything that is neither an address nor such a hash."""
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
    return hashlib.sha256(cleaned.encode("utf-8")).hexdigest()


def find(con: duckdb.DuckDBPyConnection, digest: str) -> Erasure:
    """Who and what the address (by its hash) reaches, and what must come off the
    platforms; nothing is deleted yet."""
    sqlfiles.run(con, "macros")
    sqlfiles.run(con, "erasure_find", {"hash": digest})
    people = con.execute("SELECT count(*) FROM _forget_people").fetchall()[0][0]
    records = con.execute("SELECT count(*) FROM _forget_records").fetchall()[0][0]
    return Erasure(int(people), int(records), con.execute(UNDO_SQL).fetchdf())


def forget(con: duckdb.DuckDBPyConnection, digest: str, now: datetime) -> Erasure:
    """Delete everything the warehouse holds on the address's people, in one transaction,
    and record the address's hash as suppressed."""
    found = find(con, digest)
    with transaction(con):
        sqlfiles.run(con, "erasure", {"hash": digest, "now": now})
    con.execute("CHECKPOINT")  # write the deletions through to the database file
    return found


def purge_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    """Delete raw rows of erased addresses that were landed again (see suppressed.sql)."""
    if con.execute("SELECT count(*) FROM erasure_suppressions").fetchall()[0][0]:
        sqlfiles.run(con, "suppressed")
