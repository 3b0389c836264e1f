"""The identity review, as files a data volunteer works in: the decisions they wrote (CSV or
YAML) are read for the next run, and the pairs waiting for them are written out."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import yaml

DECISION_FIELDS = ("record_a", "record_b", "decision")
REVIEW_SQL = """
SELECT r.record_a, r.record_b, round(r.match_probability, 4) AS match_probability,
       a.source AS source_a, b.source AS source_b,
       concat_ws(' ', a.given_name, a.family_name) AS name_a,
       concat_ws(' ', b.given_name, b.family_name) AS name_b,
       a.email AS email_a, b.email AS email_b,
       a.phone AS phone_a, b.phone AS phone_b,
       a.postal_code AS postcode_a, b.postal_code AS postcode_b,
       '' AS decision
FROM identity_review r
JOIN stg_source_records a ON a.source || ':' || a.source_record_id = r.record_a
JOIN stg_source_records b ON b.source || ':' || b.source_record_id = r.record_b
ORDER BY r.match_probability DESC, r.record_a, r.record_b
"""


class DecisionsFileError(ValueError):
    """The decisions file cannot be read; the message names the file, line and fix."""


def read_decisions(path: str | Path) -> pd.DataFrame:
    """record_a, record_b, decision, line_number; an absent file means no decisions yet.
    Ids that no longer exist and unknown decisions are judged later, per line, and
    reported: only a file that cannot be read at all is refused."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=[*DECISION_FIELDS, "line_number"])
    try:
        rows = _yaml_rows(path) if path.suffix.lower() in (".yaml", ".yml") else _csv_rows(path)
    except (UnicodeDecodeError, csv.Error):
        raise DecisionsFileError(_unreadable(path)) from None
    return pd.DataFrame(rows, columns=[*DECISION_FIELDS, "line_number"])


def _unreadable(path: Path) -> str:
    """What to do with a decisions file that is not text (a spreadsheet saved whole, a
    damaged copy); the bytes themselves are never repeated."""
    return (
        f"{path}: not a text file Groundswell can read. Save it as CSV (UTF-8) with "
        f"the columns {', '.join(DECISION_FIELDS)}, or as YAML; or move it aside to "
        "continue without decisions (the pairs wait in the review file)."
    )


def _csv_rows(path: Path) -> list[tuple]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [f for f in DECISION_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise DecisionsFileError(
                f"{path}: the header needs columns {', '.join(DECISION_FIELDS)} "
                f"(missing {', '.join(missing)}); start from the review file, fill in `decision`"
            )
        return [
            (row["record_a"], row["record_b"], row["decision"], reader.line_num)
            for row in reader
            if (row.get("decision") or "").strip()
        ]


def _yaml_rows(path: Path) -> list[tuple]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        raise DecisionsFileError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(data, dict):
        data = data.get("decisions") or []
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DecisionsFileError(
            f"{path}: expected a list of {{record_a, record_b, decision}} under `decisions`"
        )
    return [
        (str(i.get("record_a", "")), str(i.get("record_b", "")), str(i.get("decision", "")), n)
        for n, i in enumerate(data, start=1)
    ]


def write_review_file(con: duckdb.DuckDBPyConnection, path: str | Path) -> int:
    """The pairs waiting for a decision, side by side, with an empty `decision` column to
    fill in (accept or reject). Replaced whole, never half-written. It holds personal
    data: it stays on the machine that runs Groundswell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = con.execute(REVIEW_SQL).df()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            frame.to_csv(out, index=False)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(frame)
