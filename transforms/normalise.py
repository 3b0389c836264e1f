"""Staging: the latest version of every raw record, typed and normalised, with the keys
identity matches on, in `stg_source_records`."""

from __future__ import annotations

import duckdb

from transforms import nicknames, phones, sqlfiles
from transforms.erasure import purge_suppressed
from transforms.placeholders import DEFAULT, Placeholders


def build_staging(
    con: duckdb.DuckDBPyConnection,
    default_phone_region: str,
    placeholders: Placeholders | None = None,
) -> dict[str, int]:
    """Rebuild stg_source_records from the raw tables; returns record counts per source,
    and `dropped_forgotten_<source>` for records of forgotten people that were landed
    again and purged first. Placeholder values (DEFAULT unless given) are kept but never
    produce a match key."""
    listed = placeholders or DEFAULT
    dropped = purge_suppressed(con, default_phone_region)
    phones.register(con, default_phone_region)
    nicknames.ensure(con)
    sqlfiles.run(con, "macros")
    sqlfiles.run(
        con,
        "staging",
        {
            "placeholder_emails": list(listed.emails),
            "placeholder_phones": list(listed.phones),
            "placeholder_names": list(listed.names),
            "placeholder_addresses": list(listed.addresses),
            "phone_region": phones.region_code(default_phone_region),
            "phone_parser": phones.PARSER,
        },
    )
    rows = con.execute(
        "SELECT source, count(*) FROM stg_source_records GROUP BY source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in rows} | {
        f"dropped_forgotten_{source}": n for source, n in dropped.items() if n
    }
