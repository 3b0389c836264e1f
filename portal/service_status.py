"""The service's status (`make status`), as the pipelines write it beside the portal's
snapshot: read by HQ's home page. Counts, times and check names only."""

from __future__ import annotations

import json
import os
from pathlib import Path

STATUS_FILE = "status.json"


def status_path(snapshot: str | Path) -> Path:
    """Where the status is kept: beside the snapshot the portal reads."""
    return Path(snapshot).parent / STATUS_FILE


def write_status(path: Path, status: dict) -> None:
    """Replace the status file whole, so a reader never sees half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(scratch, path)


def read_status(path: Path) -> dict | None:
    """The last status written, or None when there is none (or it cannot be read)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _when(iso: str | None) -> str:
    """An ISO time as the page shows it: date and minute, UTC."""
    return iso.replace("T", " ")[:16] + " UTC" if iso else "never"


def _breakable(name: str) -> str:
    """A long snake_case name that may wrap after its underscores."""
    return name.replace("_", "_\u200b")


def rows(status: dict) -> list[dict]:
    """The HQ table: one row per question, with whether it needs attention."""
    out = []
    run = status.get("last_run")
    if run is None:
        out.append({"what": "Last run", "state": "none yet", "detail": "", "alert": False})
    else:
        failed = ", ".join(run.get("failed_steps") or [])
        stopped = run.get("stopped_for_confirmation")
        out.append(
            {
                "what": "Last run",
                "state": "stopped before pushing" if stopped else run["status"].lower(),
                "detail": f"started {_when(run['started_at'])} ({run['trigger']})"
                + (f"; failed steps: {failed}" if failed and not stopped else ""),
                "alert": run["status"] == "FAILURE",
            }
        )
    nxt = status.get("next_run") or {}
    if not nxt.get("schedule_on"):
        out.append({"what": "Next run", "state": "schedule off", "detail": "", "alert": False})
    else:
        out.append(
            {
                "what": "Next run",
                "state": _when(nxt.get("at")),
                "detail": f"{nxt.get('cron')} ({nxt.get('timezone')})"
                + ("" if nxt.get("daemon_running") else "; no daemon is running to start it"),
                "alert": not nxt.get("daemon_running"),
            }
        )
    for source in status.get("sources", []):
        state = "skipped: no key" if source.get("skipped") else _when(source["last_landed_at"])
        out.append(
            {
                "what": f"Source {_breakable(source['asset'])}",
                "state": state,
                "detail": "not landed for over a day" if source.get("stale") else "",
                "alert": bool(source.get("stale")),
            }
        )
    for check in status.get("failed_checks", []):
        out.append(
            {
                "what": f"Check {_breakable(check['check'])}",
                "state": f"failed ({check['severity'].lower()})",
                "detail": check.get("description", ""),
                "alert": True,
            }
        )
    backup = status.get("last_backup")
    out.append(
        {
            "what": "Last backup",
            "state": _when(backup["at"]) if backup else "none yet",
            "detail": f"{backup['kept']} kept" if backup else "",
            "alert": backup is None and run is not None and run["status"] == "SUCCESS",
        }
    )
    pending = status.get("pending_confirmation")
    out.append(
        {
            "what": "Pushes",
            "state": "waiting for confirmation" if pending else "nothing waiting",
            "detail": f"If the changes are intended: {pending['how']}." if pending else "",
            "lines": pending["problems"] if pending else [],
            "alert": pending is not None,
        }
    )
    return out
