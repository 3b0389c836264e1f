"""The Dagster definitions: loaded by `workspace.yaml`, the UI and `make run`."""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.alert_sensors import ALERT_SENSORS
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
from pipelines.status import status_sensor

JOB_NAME = SYNC_JOB


def build_definitions() -> dg.Definitions:
    """Every asset, job, schedule and sensor; refuses bad settings (SettingsError) before
    any run can start, so `make run`, `make forget`, the UI and the schedule all stop here."""
    settings.load_env()
    settings.validate()
    run = settings.current().run
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
    nightly = dg.ScheduleDefinition(
        name="nightly_sync",
        job=sync,
        cron_schedule=settings.get("NIGHTLY_CRON"),
        execution_timezone=run.SCHEDULE_TIMEZONE,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if run.nightly else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"The whole sync, unattended, on NIGHTLY_CRON ({settings.get('NIGHTLY_CRON')}).",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=CHECKS,
        jobs=[sync, forms_sync, forget_person],
        schedules=[nightly],
        sensors=[forms_inbox_sensor, dead_runs_sensor, status_sensor, *ALERT_SENSORS],
        resources=build_resources(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What the UI and the daemon load, built when they load it: importing this module
    reads no setting, so a bad one is refused by name where the caller can report it."""
    return build_definitions()
