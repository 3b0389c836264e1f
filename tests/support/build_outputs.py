"""What a warehouse build produced, as a fingerprint to compare before and after a change
that must not alter it (issue 17: faster staging, identity and exports, the same people,
person_ids, activities, ladder, lists and exports).

A small sandbox organisation is landed raw as bench/warehouse_build.py lands it, every step
after landing is run, and each output table and export file is reduced to its row count
and a digest of its sorted rows (computed in DuckDB). Columns holding the wall-clock time
of the build itself are left out: everything else is a function of the landed records and
the build's `now`.

    python -m tests.support.build_outputs --write   # after a change meant to alter outputs
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "tests" / "bench" / "build_outputs.json"
PEOPLE, SEED = 1500, 11
# The generator dates its organisation from `today`, and every date in the outputs follows:
# the fingerprint holds for the day it was taken on, so the build is made as of that day.
TODAY = date(2026, 12, 1)

# Each output table, and any column of it stamped with the wall clock rather than `now`
# (none today: what is dated at landing is landed at `now`, below).
OUTPUT_TABLES: dict[str, tuple[str, ...]] = {
    "stg_source_records": (),
    "people": (),
    "person_sources": (),
    "person_registry": (),
    "identity_links": (),
    "identity_review": (),
    "identity_conflicts": (),
    "activities": (),
    "person_metrics": (),
    "ladder": (),
    "ladder_history": (),
    "segment_members": (),
    "list_history": (),
}


def table_digest(con: duckdb.DuckDBPyConnection, table: str, skip: tuple[str, ...]) -> dict:
    """Row count and the md5 of the table's rows, each cast to text, sorted. Floating
    point values are rounded to 9 places: Splink's weights are sums whose last bit
    depends on the order DuckDB's threads add them in."""
    kinds = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
    rounded = [f'round("{c}", 9) AS "{c}"' for c, kind in kinds if kind in ("DOUBLE", "FLOAT")]
    columns = f"* EXCLUDE ({', '.join(skip)})" if skip else "*"
    if rounded:
        columns += f" REPLACE ({', '.join(rounded)})"
    rows, digest = con.execute(
        f"SELECT count(*), md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) "
        f"ORDER BY CAST(t AS VARCHAR)), '')) FROM (SELECT {columns} FROM {table}) t"
    ).fetchone()
    return {"rows": int(rows), "md5": digest}


def export_digests(exports: Path) -> dict[str, dict]:
    """Each CSV export's bytes, and each workbook's cell values (its file also holds the
    time it was written)."""
    from openpyxl import load_workbook

    found: dict[str, dict] = {}
    for path in sorted(exports.rglob("*")):
        name = path.relative_to(exports).as_posix()
        if path.suffix == ".csv":
            found[name] = {"md5": hashlib.md5(path.read_bytes()).hexdigest()}
        elif path.suffix == ".xlsx":
            book = load_workbook(path, read_only=True)
            text = repr([list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets])
            book.close()
            found[name] = {"md5": hashlib.md5(text.encode()).hexdigest()}
    return found


def build_and_fingerprint(workdir: Path) -> dict[str, dict]:
    """Land the small organisation, build, and fingerprint every output."""
    from bench.identity_support import land_organisation
    from bench.warehouse_build import build_steps, land_engagement
    from sandbox.generator import generate
    from transforms.ladder_config import load
    from warehouse.connection import connect

    org = generate(PEOPLE, SEED, today=TODAY)
    warehouse = workdir / "warehouse.duckdb"
    land_organisation(org, warehouse, workdir)
    land_engagement(org, warehouse)
    now: datetime = org.now
    exports = workdir / "exports"
    con = connect(warehouse)
    try:
        # A form row without its own time, and a Mailchimp tag first seen, are dated when
        # they were landed: here, at `now` (each record is landed once, so no tie moves).
        for table in ("raw_forms", "raw_mailchimp", "raw_action_network"):
            con.execute(f"UPDATE {table} SET loaded_at = ?", [now])
        for _, step in build_steps(con, load(ROOT / "ladder.yaml"), now, exports):
            step()
        found = {t: table_digest(con, t, skip) for t, skip in OUTPUT_TABLES.items()}
    finally:
        con.close()
    return found | {f"exports/{k}": v for k, v in export_digests(exports).items()}


def differences(expected: dict[str, dict], found: dict[str, dict]) -> list[str]:
    """What differs, one line per output: its name and the counts either side."""
    lines = []
    for name in sorted(set(expected) | set(found)):
        before, after = expected.get(name), found.get(name)
        if before != after:
            lines.append(f"{name}: expected {before}, built {after}")
    return lines


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.support.build_outputs --write")
    with tempfile.TemporaryDirectory() as tmp:
        result = build_and_fingerprint(Path(tmp))
    EXPECTED.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED} ({len(result)} outputs)")
