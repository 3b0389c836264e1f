"""Consent evidence from the platforms: every landed version's email and phone status of
each platform record, from each registered platform's `status_history` SQL (its own step
file, checked by its header), as one view `stage.status_history` that people.sql reads."""

from __future__ import annotations

import duckdb

from transforms import platform_parts, steps

# The columns every platform's status history gives; typed, so that a build with no such
# platform still has them (and gives no platform-status consent).
STATUS_HISTORY_COLUMNS = (
    "NULL::VARCHAR AS source, NULL::VARCHAR AS source_record_id, "
    "NULL::TIMESTAMP AS modified_at, NULL::VARCHAR AS email_status, "
    "NULL::VARCHAR AS phone_status"
)


def stage_status_history(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Step platform_status: each platform's status history view, then
    `stage.status_history`, all of them as one; returns the views it reads. It reads
    nothing itself: each file's inputs are checked as it runs (steps.run_file)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {steps.STAGE}")  # when no platform has one
    written = platform_parts.run_role(
        con, "status_history", {"status_history": ""}, required="status_history"
    )
    names = written["status_history"]
    platform_parts.union_view(con, f"{steps.STAGE}.status_history", STATUS_HISTORY_COLUMNS, names)
    return names
