"""Alert sensors: one message per finished run that failed, was stopped by the guard rails
or had a data check fail, by email and/or webhook (see pipelines/alerts.py). An alert never
fails anything: a send that fails stays in the outbox, is logged, and is retried by every
later evaluation of these sensors."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines import settings as run_settings
from pipelines.alert_channels import ChannelError, configured, send
from pipelines.alert_outbox import Outbox
from pipelines.alerts import Alert, compose
from pipelines.service_settings import ServiceSettings

OUTBOX_FOLDER = "alerts"  # under DAGSTER_HOME (the instance's own folder)
RETRY_SECONDS = 120


def outbox_for(instance: dg.DagsterInstance) -> Outbox:
    """The instance's outbox: $DAGSTER_HOME/alerts for the instance `make serve` runs."""
    return Outbox(Path(instance.root_directory) / OUTBOX_FOLDER)


def _settings(log) -> ServiceSettings | None:
    try:
        run_settings.load_env()
        return ServiceSettings()
    except Exception as exc:  # refused by name at start-up; here only logged
        log.warning(f"Alerts are off: their settings cannot be read ({type(exc).__name__}).")
        return None


def _describer(repository: dg.RepositoryDefinition | None):
    """A check's description as its definition gives it (the evaluation rarely carries one)."""

    def describe(key: dg.AssetCheckKey) -> str | None:
        try:
            return repository.asset_graph.get_check_spec(key).description if repository else None
        except Exception:  # a check this code location no longer defines
            return None

    return describe


def alert_for_run(context: dg.RunStatusSensorContext) -> str:
    """Add the run's alert to the outbox (once per run) and send what is waiting."""
    service = _settings(context.log)
    if service is None:
        return "alert settings unreadable"
    channels = configured(service)
    outbox = outbox_for(context.instance)
    if not channels and not outbox.folder.is_dir():
        return "no alert channel configured (ALERT_WEBHOOK_URL, SMTP_HOST)"
    run = context.dagster_run
    kept = False  # once in the outbox, the outbox alone sends it (never twice)
    try:
        with outbox.locked():
            kept = outbox.known(run.run_id)
            if channels and not kept:
                alert = _compose(context, service)
                if alert is not None:
                    outbox.add(alert.to_json(), channels)
                    context.log.info(f"Alert for run {run.run_id}: {alert.subject}")
                kept = True
            waiting = outbox.deliver(service, context.log.warning)
    except OSError as exc:
        # A full or unwritable disk is when an alert matters most: send it straight away.
        context.log.warning(
            f"The alert outbox {outbox.folder} cannot be written ({type(exc).__name__}, "
            f"errno {exc.errno}); "
            + (
                "what it holds is tried again at the next evaluation."
                if kept
                else f"the alert for run {run.run_id} is sent once now, not kept."
            )
        )
        alert = None if kept else _compose(context, service)
        if alert is not None:
            _send_now(alert.to_json(), channels, service, context.log.warning)
        return "outbox unwritable"
    return f"{waiting} alert(s) waiting to be sent" if waiting else "alerts sent"


def _compose(context: dg.RunStatusSensorContext, service: ServiceSettings) -> Alert | None:
    run = context.dagster_run
    try:
        describe = _describer(context.repository_def)
        return compose(context.instance, run, service.DAGSTER_UI_URL, describe)
    except Exception as exc:  # the run's events could not be read: say so, never raise
        context.log.warning(
            f"Alert for run {run.run_id} could not be composed ({type(exc).__name__})."
        )
        return None


def _send_now(alert: dict[str, str], channels: list[str], service, warn) -> None:
    for channel in channels:
        try:
            send(channel, alert, service)
        except ChannelError as exc:
            warn(f"Alert for run {alert['run_id']} not sent by {channel}: {exc}.")


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one alert (email and/or webhook) when a run fails or a push is stopped "
    "by the guard rails: the job, the failed steps, what went wrong, what to do, the run's link.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    context.log.info(alert_for_run(context))


@dg.run_status_sensor(
    name="alert_on_failed_checks",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one alert when a run succeeded but a data check in it failed; a run "
    "with nothing failed sends nothing.",
)
def alert_on_failed_checks(context: dg.RunStatusSensorContext) -> None:
    context.log.info(alert_for_run(context))


@dg.sensor(
    name="alert_outbox_sensor",
    minimum_interval_seconds=RETRY_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends again the alerts an unreachable mail server or webhook left in "
    "$DAGSTER_HOME/alerts, every two minutes; gives up after three days.",
)
def alert_outbox_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    outbox = outbox_for(context.instance)
    if not outbox.folder.is_dir():
        return dg.SkipReason("no alerts waiting")
    try:
        with outbox.locked():
            if not outbox.pending():
                return dg.SkipReason("no alerts waiting")
            service = _settings(context.log)
            if service is None:
                return dg.SkipReason("alert settings unreadable")
            waiting = outbox.deliver(service, context.log.warning)
    except OSError as exc:
        context.log.warning(
            f"The alert outbox {outbox.folder} cannot be written ({type(exc).__name__}, "
            f"errno {exc.errno}); its alerts are tried again at the next evaluation."
        )
        return dg.SkipReason("alert outbox unwritable")
    return dg.SkipReason(f"{waiting} alert(s) still waiting" if waiting else "waiting alerts sent")


ALERT_SENSORS = [alert_on_run_failure, alert_on_failed_checks, alert_outbox_sensor]
