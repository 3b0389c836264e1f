"""Organiser downloads: one CSV per activation list, only the list's columns, safe to open
in a spreadsheet, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from transforms.ladder import INPUT, prepare_input
from transforms.ladder_config import ActivationList, Ladder

# A cell starting with one of these is run as a formula by Excel and its kin.
FORMULA_START = r"^[=+\-@\t\r]"


def neutralised(expression: str, alias: str) -> str:
    """The value as text, prefixed with a quote where a spreadsheet would evaluate it."""
    text = f"CAST({expression} AS VARCHAR)"
    return (
        f"CASE WHEN regexp_matches({text}, '{FORMULA_START}') THEN '''' || {text} "
        f"ELSE {text} END AS {alias}"
    )


def list_query(activation: ActivationList) -> str:
    selected = []
    for column in activation.columns:
        source = column
        # On a two-channel list, a channel the person opted out of is left blank.
        if activation.channel == "both" and column in ("email", "phone"):
            source = f"CASE WHEN {column}_suppressed THEN NULL ELSE {column} END"
        selected.append(neutralised(source, column))
    return f"""
        SELECT {", ".join(selected)}
        FROM (
            SELECT i.*, l.tier, s.reason
            FROM segment_members s
            JOIN {INPUT} i USING (person_id)
            LEFT JOIN ladder l USING (person_id)
            WHERE s.segment = 'list:{activation.name}'
        )
        ORDER BY family_name NULLS LAST, given_name NULLS LAST, person_id
    """


def write_list_exports(
    con: duckdb.DuckDBPyConnection, ladder: Ladder, exports_dir: Path
) -> list[dict[str, object]]:
    """Write every list to `<exports_dir>/<list>.csv`; returns name, path and row count."""
    exports_dir.mkdir(parents=True, exist_ok=True)
    prepare_input(con, ladder)
    written = []
    for activation in ladder.lists:
        final = exports_dir / f"{activation.name}.csv"
        partial = exports_dir / f".{activation.name}.csv.partial"
        query = list_query(activation)
        con.execute(f"COPY ({query}) TO '{partial}' (HEADER, DELIMITER ',', QUOTE '\"')")
        rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        os.replace(partial, final)  # readers see the old file or the new one, never half
        written.append({"name": activation.name, "path": str(final), "rows": int(rows)})
    return written
