"""What the push tests share: a ladder with sync settings, read-only queries of the
warehouse, the counts a run recorded in sync_runs, and the simulators' audited writes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from tests.support.pipeline import ROOT


def ladder_with_sync(path: Path, sync: dict) -> str:
    """The default ladder.yaml with its `sync:` section replaced; returns the path."""
    data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    data["sync"] = sync
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def read_sql(warehouse: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def run_counts(warehouse: Path, result, column: str, step: str = "plan") -> dict[str, int]:
    """One sync_runs count per destination, as the run recorded it for `step`."""
    return dict(
        read_sql(
            warehouse,
            f"SELECT destination, {column} FROM sync_runs WHERE run_id = ? AND step = ?",
            [result.run_id, step],
        )
    )


def platform_writes(sandbox) -> list:
    return sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes


def clear_writes(sandbox) -> None:
    sandbox.mailchimp.audit.clear()
    sandbox.action_network.audit.clear()
