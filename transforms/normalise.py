"""Staging: the latest version of every raw record, typed and normalised, with the keys
identity matches on, in `stg_source_records`."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from transforms import nicknames, phones, platform_parts, steps
from transforms.erasure import purge_named, purge_suppressed
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
    found, deleted = _forgotten_by_name_and_address(con)
    if found:
        # Rare (a forgotten person came back by name and address only): drop them as any
        # other suppressed record, then stage again without them.
        for source, n in purge_suppressed(con, default_phone_region).items():
            dropped[source] = dropped.get(source, 0) + n
        for source, n in deleted.items():
            dropped[source] = dropped.get(source, 0) + n
        _stage(con, default_phone_region, listed)
    rows = con.execute(
        "SELECT source, count(*) FROM stg_source_records GROUP BY source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in rows} | {
        f"dropped_forgotten_{source}": n for source, n in dropped.items() if n
    }


def _stage(con: duckdb.DuckDBPyConnection, default_phone_region: str, listed: Placeholders) -> None:
    with phones.register(con, default_phone_region):
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
    written = platform_parts.run_role(con, "staging", {"stg": ""}, required="stg")
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {name}" for name in written["stg"])
    # Its columns are the platform views': their files are part of what it is made from.
    files = "".join(path.read_text() for path in platform_sql.files("staging").values())
    steps.define_view(con, f"{steps.STAGE}.stg_platforms", union, files)
    return list(platform_sql.staging_files())


def _forgotten_by_name_and_address(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[str, int], dict[str, int]]:
    """Suppress staged records carrying a forgotten person's name + postcode + street key
    (step suppressed_names): records without a record key of their own (form rows) are
    deleted at once by their platform's purge, the others by their id in the purge that
    follows. Returns the records found per source ({}: none), and those deleted at once."""
    kept = con.execute(
        "SELECT count(*) FROM erasure_suppressions WHERE kind = 'name_address'"
    ).fetchall()[0][0]
    if not kept:
        return {}, {}
    with transaction(con):
        steps.run(con, "suppressed_names", {"now": datetime.now(UTC).replace(tzinfo=None)})
        deleted = con.execute(
            f"SELECT source, count(*) FROM {steps.STAGE}.purge_records GROUP BY source"
        ).fetchall()
        purge_named(con)
    counts = con.execute(
        "SELECT source, records FROM stage.suppressed_names_by_source ORDER BY source"
    ).fetchall()
    return {source: int(n) for source, n in counts}, {source: int(n) for source, n in deleted}
