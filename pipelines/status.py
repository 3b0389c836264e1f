"""`make status`: what the volunteer asks first in the morning. The last run and its
result, the next scheduled run, each source's last successful landing, the checks that
failed, the last backup and any push waiting for confirmation; read from Dagster's
history and the backup folder, never from the warehouse (a run may hold it). The same
figures are written beside the portal's snapshot for its HQ page; none is personal data."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.storage.dagster_run import RunsFilter
from dagster._utils.schedules import cron_string_iterator

from connectors.registry import PLATFORMS
from pipelines import runs, settings
from pipelines.service_settings import ServiceSettings
from portal.service_status import status_path, write_status
from warehouse import backup

JOB_NAME = "groundswell_sync"
SCHEDULE_NAME = "nightly_sync"
GUARD_RAILS = ("sync_plan", "within_guard_rails")
RECENT_RUNS = 20  # runs read for the pending confirmation
DAEMON_ALIVE_SECONDS = 120  # a daemon heartbeat older than this: not running
SOURCES = [(p, s.asset) for p in PLATFORMS for s in p.sources]


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None


def _run_url(run_id: str) -> str:
    return f"{ServiceSettings().DAGSTER_UI_URL.rstrip('/')}/runs/{run_id}"


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records]


def _failed_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return sorted(
        {r.event_log_entry.step_key for r in records.records if r.event_log_entry.step_key}
    )


def last_run(instance: dg.DagsterInstance) -> dict | None:
    """The newest run of the sync job: its result, times, failed steps and link."""
    found = instance.get_run_records(RunsFilter(job_name=JOB_NAME), limit=1)
    if not found:
        return None
    record = found[0]
    run = record.dagster_run
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "started_at": _iso(record.start_time),
        "ended_at": _iso(record.end_time),
        "trigger": (
            "schedule"
            if run.tags.get("dagster/schedule_name")
            else "sensor"
            if run.tags.get("dagster/sensor_name")
            else "by hand"
        ),
        "failed_steps": _failed_steps(instance, run.run_id),
        "url": _run_url(run.run_id),
    }


def _schedule_running(instance: dg.DagsterInstance) -> bool:
    """Switched on in the UI (or off), else the NIGHTLY_SCHEDULE default."""
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        if s.name == SCHEDULE_NAME
    ]
    if states:
        return any(s.status.value in ("RUNNING", "DECLARED_IN_CODE") for s in states)
    return settings.current().run.nightly


def _daemon_heartbeat_age(instance: dg.DagsterInstance) -> float | None:
    beats = instance.get_daemon_heartbeats()
    scheduler = beats.get("SCHEDULER")
    return time.time() - scheduler.timestamp if scheduler else None


def next_run(instance: dg.DagsterInstance, now: float | None = None) -> dict:
    """When the nightly schedule fires next, whether it is on, and whether a daemon runs
    to fire it."""
    now = now or time.time()
    cron = settings.get("NIGHTLY_CRON")
    zone = settings.get("SCHEDULE_TIMEZONE")
    upcoming = next(cron_string_iterator(now, cron, zone))
    age = _daemon_heartbeat_age(instance)
    return {
        "cron": cron,
        "timezone": zone,
        "schedule_on": _schedule_running(instance),
        "at": upcoming.astimezone(UTC).isoformat(timespec="seconds"),
        "daemon_running": age is not None and age < DAEMON_ALIVE_SECONDS,
    }


def source_landings(instance: dg.DagsterInstance, now: float | None = None) -> list[dict]:
    """Each source's last landing that was not skipped for want of a key."""
    now = now or time.time()
    limit = float(settings.get("CHECK_FRESHNESS_HOURS"))
    rows = []
    for platform, asset in SOURCES:
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=25).records
        landed = [
            r
            for r in records
            if not (
                r.asset_materialization
                and (flag := r.asset_materialization.metadata.get("skipped")) is not None
                and flag.value
            )
        ]
        last = landed[0].timestamp if landed else None
        hours = (now - last) / 3600 if last else None
        rows.append(
            {
                "asset": asset,
                "platform": platform.title,
                "last_landed_at": _iso(last),
                "hours_ago": round(hours, 1) if hours is not None else None,
                "skipped": bool(records) and not landed,
                "stale": hours is not None and hours > limit,
            }
        )
    return rows


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """The checks the run evaluated as failed: name, asset, severity and what it says."""
    rows = []
    for evaluation in _check_evaluations(instance, run_id):
        if evaluation.passed:
            continue
        rows.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "severity": evaluation.severity.value,
                "description": evaluation.description or "",
            }
        )
    return rows


def pending_confirmation(instance: dg.DagsterInstance) -> dict | None:
    """The newest sync plan's guard rails, when they stopped it: nothing is pushed until a
    run is confirmed."""
    for record in instance.get_run_records(RunsFilter(job_name=JOB_NAME), limit=RECENT_RUNS):
        run_id = record.dagster_run.run_id
        for evaluation in _check_evaluations(instance, run_id):
            if (evaluation.asset_key.path[-1], evaluation.check_name) != GUARD_RAILS:
                continue
            if evaluation.passed:
                return None
            details = evaluation.metadata.get("details")
            problems = [
                line.removeprefix("- ").strip()
                for line in (details.value if details else "").splitlines()
                if line.strip()
            ]
            return {
                "run_id": run_id,
                "stopped_at": _iso(record.end_time or record.create_timestamp.timestamp()),
                "problems": problems,
                "url": _run_url(run_id),
                "how": "make run CONFIRM=1, or in the Dagster UI's Launchpad the run config "
                "ops: {sync_plan: {config: {confirm_large_changes: true}}}",
            }
    return None


def last_backup() -> dict | None:
    """The newest warehouse backup in BACKUP_DIR, and how many are kept."""
    kept = backup.backups(settings.get("BACKUP_DIR"))
    newest = backup.latest(settings.get("BACKUP_DIR"))
    if newest is None:
        return None
    taken = backup.taken_at(newest)
    return {
        "file": newest.name,
        "at": taken.isoformat(timespec="seconds") if taken else _iso(newest.stat().st_mtime),
        "bytes": newest.stat().st_size,
        "kept": len(kept),
    }


def collect(instance: dg.DagsterInstance) -> dict:
    """Every figure `make status` shows."""
    run = last_run(instance)
    pending = pending_confirmation(instance)
    if run:
        # A blocking check fails its step: the guard rails' stop shows as a failed run.
        run["stopped_for_confirmation"] = bool(
            pending and pending["run_id"] == run["run_id"] and run["failed_steps"] == ["sync_plan"]
        )
    return {
        "checked_at": _iso(time.time()),
        "last_run": run,
        "next_run": next_run(instance),
        "sources": source_landings(instance),
        "failed_checks": failed_checks(instance, run["run_id"]) if run else [],
        "last_backup": last_backup(),
        "pending_confirmation": pending,
    }


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    hours = (now - datetime.fromisoformat(iso)).total_seconds() / 3600
    if hours < 1:
        return f"{iso} ({_count(round(hours * 60), 'minute')} ago)"
    if hours < 48:
        return f"{iso} ({_count(round(hours), 'hour')} ago)"
    return f"{iso} ({_count(round(hours / 24), 'day')} ago)"


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def render(status: dict) -> str:
    """The status as the terminal shows it."""
    now = datetime.fromisoformat(status["checked_at"])
    out = [f"Groundswell status at {status['checked_at']}", ""]
    run = status["last_run"]
    if run is None:
        out.append("Last run:        none yet (make run, or wait for the schedule)")
    else:
        result = run["status"].lower()
        if run.get("stopped_for_confirmation"):
            result = "stopped before pushing, waiting for confirmation (below)"
        elif run["failed_steps"]:
            result += f"; failed steps: {', '.join(run['failed_steps'])}"
        out += [
            f"Last run:        {result} ({run['trigger']}), started {_ago(run['started_at'], now)}",
            f"                 {run['url']}",
        ]
    nxt = status["next_run"]
    if not nxt["schedule_on"]:
        out.append(
            "Next run:        the nightly schedule is off (NIGHTLY_SCHEDULE=on, or switch "
            "it on in the Dagster UI)"
        )
    else:
        out.append(f"Next run:        {nxt['at']} ({nxt['cron']}, {nxt['timezone']})")
        if not nxt["daemon_running"]:
            out.append(
                "                 but no Dagster daemon is running: it fires only while "
                "make serve runs"
            )
    out += ["", "Sources (last successful landing):"]
    for row in status["sources"]:
        when = "skipped: no key" if row["skipped"] else _ago(row["last_landed_at"], now)
        flag = "  STALE" if row["stale"] else ""
        out.append(f"  {row['asset']:<28} {when}{flag}")
    out += ["", "Checks that failed in the last run:"]
    if not status["failed_checks"]:
        out.append("  none")
    for row in status["failed_checks"]:
        out.append(f"  {row['severity']:<5} {row['asset']} / {row['check']}")
        if row["description"]:
            out.append(f"        {row['description']}")
    backup = status["last_backup"]
    out.append("")
    if backup is None:
        out.append("Last backup:     none yet (one is written after each successful run)")
    else:
        out.append(
            f"Last backup:     {backup['file']}, {_ago(backup['at'], now)}, "
            f"{backup['bytes'] / 1e6:,.1f} MB ({backup['kept']} kept)"
        )
    pending = status["pending_confirmation"]
    if pending is None:
        out.append("Pushes:          nothing waiting for confirmation")
    else:
        out.append("Pushes:          STOPPED, waiting for confirmation:")
        out += [f"  - {p}" for p in pending["problems"]]
        out.append(f"  If these changes are intended: {pending['how']}.")
    return "\n".join(out)


def attention(status: dict) -> bool:
    """Whether something needs the volunteer: a failed run, a failed check, a stale
    source or a push waiting."""
    run = status["last_run"]
    return bool(
        (run and run["status"] == "FAILURE")
        or status["failed_checks"]
        or any(s["stale"] for s in status["sources"])
        or status["pending_confirmation"]
    )


def publish(instance: dg.DagsterInstance) -> dict:
    """Collect the status and write it beside the portal's snapshot."""
    status = collect(instance)
    write_status(status_path(settings.get("PORTAL_SNAPSHOT")), status)
    return status


@dg.sensor(
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes the service status (make status) beside the portal's snapshot, for "
    "the HQ page, every two minutes.",
)
def status_sensor(context: dg.SensorEvaluationContext):
    publish(context.instance)
    return dg.SkipReason("status written for the portal")


def main(argv: list[str] | None = None) -> int:
    """Print the status; exit 1 when something needs attention, 0 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.status", description=__doc__)
    parser.parse_args(argv)
    settings.load_env()
    # A wrong setting stops the next run, not the morning check: it is what to fix first.
    try:
        settings.validate()
        refused = None
    except ValueError as exc:
        refused = str(exc).strip()
    try:
        status = publish(runs.open_instance())
    except ValueError as exc:  # DAGSTER_HOME or DAGSTER_POSTGRES_URL: no history to read
        print(refused or str(exc).strip(), file=sys.stderr)
        return 2
    print(render(status))
    if refused:
        print(f"\n{refused}")
        return 1
    return 1 if attention(status) else 0


if __name__ == "__main__":
    sys.exit(main())
