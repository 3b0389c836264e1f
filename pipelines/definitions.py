"""The Dagster definitions: loaded by `workspace.yaml`, the UI and `make run`."""

from __future__ import annotations

import multiprocessing
import sys

import dagster as dg

from pipelines import settings
from pipelines.alert_sensors import ALERT_SENSORS
from pipelines.alerts import REFUSED_STEP
from pipelines.assets import (
    asks,
    backup,
    engagement,
    health,
    identity,
    outbound,
    outcomes,
    portal,
    sources,
)
from pipelines.checks import CHECKS
from pipelines.erasure import forget_person
from pipelines.resources import build_resources
from pipelines.sensors import SYNC_JOB, dead_runs_sensor, forms_inbox_sensor, forms_sync
from pipelines.service_settings import cron_ok
from pipelines.status import status_sensor

JOB_NAME = SYNC_JOB


def build_definitions() -> dg.Definitions:
    """Every asset, job, schedule and sensor; refuses bad settings (SettingsError) before
    any run can start, so `make run`, `make forget`, the UI and the schedule all stop here."""
    settings.load_env()
    settings.validate()
    assets = dg.load_assets_from_modules(
        [sources, outcomes, identity, engagement, asks, outbound, portal, health, backup]
    )
    sync = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        description="Pull every source, resolve identities, rebuild the ladder, push and export.",
        # One process for the run, as `make run`: the warehouse pool runs its steps one at
        # a time anyway, and a process per step costs a small server minutes of imports.
        executor_def=dg.in_process_executor,
    )
    nightly = _nightly(sync)
    return dg.Definitions(
        assets=assets,
        asset_checks=CHECKS,
        jobs=[sync, forms_sync, forget_person],
        schedules=[nightly],
        sensors=[forms_inbox_sensor, dead_runs_sensor, status_sensor, *ALERT_SENSORS],
        resources=build_resources(),
    )


def refusing_definitions(problem: str) -> dg.Definitions:
    """What the UI and the daemon load while a setting or configuration file is wrong (one
    edited while the service runs): the alert, status and dead-run sensors keep working,
    and each job, the nightly one included, fails at once naming what to fix, so the
    alert reaches someone instead of the location failing to load in silence."""

    @dg.op(name=REFUSED_STEP)
    def refused() -> None:
        raise dg.Failure(description=problem, allow_retries=False)  # names each, no value

    jobs = [
        dg.GraphDefinition(name=name, node_defs=[refused]).to_job(description=problem)
        for name in (JOB_NAME, forms_sync.name, forget_person.name)
    ]
    return dg.Definitions(
        jobs=jobs,
        schedules=[_nightly(jobs[0], refused=True)],
        sensors=[dead_runs_sensor, status_sensor, *ALERT_SENSORS],
    )


def _nightly(job, refused: bool = False) -> dg.ScheduleDefinition:
    """The nightly schedule; while settings are refused, on NIGHTLY_CRON if that one is
    usable (else the default), so the night still ends in an alert."""
    cron, zone, running = settings.get("NIGHTLY_CRON"), "UTC", False
    try:
        run = settings.current().run
        zone, running = run.SCHEDULE_TIMEZONE, run.nightly
    except ValueError:
        if not refused:
            raise
        cron = cron if cron_ok(cron) else settings.DEFAULTS["NIGHTLY_CRON"]
    return dg.ScheduleDefinition(
        name="nightly_sync",
        job=job,
        cron_schedule=cron,
        execution_timezone=zone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"The whole sync, unattended, on NIGHTLY_CRON ({cron}).",
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What the UI and the daemon load, built when they load it: importing this module
    reads no setting. A bad one is refused by name: `make run`, `make ui` and `make serve`
    stop at start; a service already running loads `refusing_definitions` instead."""
    try:
        return build_definitions()
    except settings.SettingsError as exc:
        if _in_a_run_worker():
            # The run fails loading, its failure carrying the refusal the alert quotes (a
            # job of other steps would fail on the plan, saying nothing of the settings).
            raise
        return refusing_definitions(str(exc).strip())


def _in_a_run_worker() -> bool:
    """Whether this process is one Dagster started to execute a run, not a code server for
    the UI or the daemon: a code server spawns each run with multiprocessing; a run
    launched by command is `dagster api execute_run` (or `resume_run`, `execute_step`)."""
    if multiprocessing.parent_process() is not None:
        return True
    return "api" in sys.argv and bool({"execute_run", "resume_run", "execute_step"} & set(sys.argv))
