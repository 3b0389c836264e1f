"""Staging: the latest version of every raw record, typed and normalised, in
`stg_source_records`."""

from __future__ import annotations

import duckdb

from transforms import phones, sqlfiles


def build_staging(con: duckdb.DuckDBPyConnection, default_phone_region: str) -> dict[str, int]:
    """Rebuild stg_source_records from the raw tables; returns record counts per source."""
    phones.register(con, default_phone_region)
    sqlfiles.run(con, "staging")
    rows = con.execute(
        "SELECT source, count(*) FROM stg_source_records GROUP BY source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in rows}
