"""Staging: the latest version of every raw record, typed and normalised, with the keys
identity matches on, in `stg_source_records`."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from transforms import nicknames, phones, steps
from transforms.erasure import purge_suppressed
from transforms.placeholders import DEFAULT, Placeholders
from warehouse import platform_sql
from warehouse.load import transaction


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
    _stage(con, default_phone_region, listed)
    found = _forgotten_by_name_and_address(con)
    if found:
        # Rare (a forgotten person came back by name and address only): drop them as any
        # other suppressed record, then stage again without them.
        for source, n in purge_suppressed(con, default_phone_region).items():
            dropped[source] = dropped.get(source, 0) + n
        dropped["forms"] = dropped.get("forms", 0) + found.get("forms", 0)
        _stage(con, default_phone_region, listed)
    rows = con.execute(
        "SELECT source, count(*) FROM stg_source_records GROUP BY source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in rows} | {
        f"dropped_forgotten_{source}": n for source, n in dropped.items() if n
    }


def _stage(con: duckdb.DuckDBPyConnection, default_phone_region: str, listed: Placeholders) -> None:
    phones.register(con, default_phone_region)
    nicknames.build(con)
    steps.run(con, "macros")
    stage_platforms(con)
    steps.run(
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


def stage_platforms(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Each registered platform's staging view (its own step file, checked by its header),
    then `stage.stg_platforms`, all of them as one; returns the platforms staged."""
    files = platform_sql.staging_files()
    for platform, path in files.items():
        steps.run_file(con, path)
        wanted = f"{steps.STAGE}.stg_{platform}"
        if wanted not in steps.header(path).get("writes", ()):
            raise ValueError(f"{path}: a platform's staging SQL writes the view {wanted}")
    union = " UNION ALL BY NAME ".join(
        f"SELECT * FROM {steps.STAGE}.stg_{platform}" for platform in files
    )
    con.execute(f"CREATE OR REPLACE VIEW {steps.STAGE}.stg_platforms AS {union}")
    return list(files)


def _forgotten_by_name_and_address(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Suppress staged records carrying a forgotten person's name + postcode + street key
    (step suppressed_names): form rows are deleted at once, platform records by their id in
    the purge that follows. Returns the records found per source ({}: none)."""
    kept = con.execute(
        "SELECT count(*) FROM erasure_suppressions WHERE kind = 'name_address'"
    ).fetchall()[0][0]
    if not kept:
        return {}
    with transaction(con):
        steps.run(con, "suppressed_names", {"now": datetime.now(UTC).replace(tzinfo=None)})
    counts = con.execute(
        "SELECT source, records FROM stage.suppressed_names_by_source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in counts}
