"""One alert per finished run, composed from the run's own events: the steps that failed,
a push the guard rails stopped, and the data checks that failed. An alert carries names,
counts and our own words only, never a value from the data (no person's details)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import dagster as dg
from dagster._core.errors import DagsterAssetCheckFailedError
from dagster._core.events import StepFailureData
from dagster._core.execution.plan.objects import ErrorSource

GUARD_RAILS = ("sync_plan", "within_guard_rails")  # (asset, check): the push's own stop
MAX_WORDS = 600  # characters kept of one failure's description
MAX_LINES = 20  # lines kept of the guard rails' details
CHECK_FAILED = DagsterAssetCheckFailedError.__name__
CONFIRM = (
    "If these changes are intended, confirm them once: `make run CONFIRM=1`, or in the "
    "Dagster UI's Launchpad run the job with the run config "
    "`ops: {sync_plan: {config: {confirm_large_changes: true}}}`. If they are not, fix the "
    "cause (ladder.yaml, or a source that returned too few people) and run again; nothing "
    "is sent until then."
)
RUN_ENDED = {
    "UNEXPECTED_TERMINATION": "the run's process ended unexpectedly (killed, out of memory, "
    "or the server restarted)",
    "RUN_WORKER_RESTART": "the run's process ended unexpectedly (the server restarted)",
    "START_TIMEOUT": "the run did not start in time",
    "JOB_INITIALIZATION_FAILURE": "the run could not start (a setting or resource failed to load)",
}

CheckDescriptions = Callable[[dg.AssetCheckKey], str | None]


@dataclass(frozen=True)
class Alert:
    """What is sent about one run: by email (subject and text) and by webhook."""

    run_id: str
    job: str
    kind: str  # failed | stopped | checks
    subject: str
    text: str
    link: str

    def to_json(self) -> dict[str, str]:
        """The alert as plain JSON values (the outbox's form)."""
        return asdict(self)


@dataclass(frozen=True)
class _Check:
    name: str
    asset: str
    severity: str
    blocking: bool
    description: str | None
    numbers: dict[str, int | float]
    details: str


def run_link(ui_url: str, run_id: str) -> str:
    """The run's page in the Dagster UI."""
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def compose(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    ui_url: str,
    check_description: CheckDescriptions = lambda _key: None,
) -> Alert | None:
    """The alert a finished run needs, or None when nothing failed."""
    events = _events(instance, run.run_id)
    failures = {
        e.step_key: e.step_failure_data
        for e in events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.step_key
    }
    checks = _failed_checks(events, check_description)
    guard = next((c for c in checks if (c.asset, c.name) == GUARD_RAILS), None)
    stops = {k for k, f in failures.items() if f.error and f.error.cls_name == CHECK_FAILED}
    faults = {k: f for k, f in failures.items() if k not in stops}
    run_failed = run.status == dg.DagsterRunStatus.FAILURE
    broke = bool(faults) or (run_failed and not stops)  # failed for a reason other than a check
    if not (broke or checks):
        return None
    link = run_link(ui_url, run.run_id)
    skipped = len(_planned(instance, run) - _started(events)) if run_failed else 0
    kind, subject = _headline(run.job_name, sorted(faults), broke, bool(stops), guard, checks)
    lines = [subject, "", f"Job: {run.job_name}", f"Run: {link}"]
    lines += _result(run, faults, stops, skipped)
    refused = None
    if broke:
        lines += ["", "What went wrong:"]
        lines += [f"- Step {key}: {failure_words(faults[key])}" for key in sorted(faults)]
        if not faults:
            reason = run.tags.get("dagster/failure_reason", "")
            refused = _refused_settings(instance, run.run_id)
            lines.append(
                f"- {refused}"
                if refused
                else f"- {RUN_ENDED.get(reason, 'the run failed outside its steps')}."
            )
    if guard is not None:
        lines += ["", "The push was stopped by the guard rails and waits for confirmation.", ""]
        lines += ["Problems:", *_detail_lines(guard.details)]
    other = [c for c in checks if c is not guard]
    if other:
        lines += ["", "Data checks that failed:", *(_check_line(c) for c in other)]
    # Refused at load (a run started before the file broke) or by the refusing job.
    refused_settings = refused is not None or REFUSED_STEP in faults
    lines += ["", "What to do:", *_what_to_do(broke, guard, other, refused_settings)]
    return Alert(run.run_id, run.job_name, kind, subject, "\n".join(lines) + "\n", link)


def _headline(
    job: str,
    faults: list[str],
    broke: bool,
    stopped: bool,
    guard: _Check | None,
    checks: list[_Check],
) -> tuple[str, str]:
    """The alert's kind and subject: a failure first, then a stop, then failed checks."""
    if broke:
        what = _steps_phrase(faults)
        return "failed", f"Groundswell: {job} failed" + (f" ({what})" if what else "")
    if guard is not None:
        return "stopped", f"Groundswell: {job} push stopped, waiting for confirmation"
    if stopped:
        names = ", ".join(c.name for c in checks if _blocks(c)) or "a blocking check"
        return "stopped", f"Groundswell: {job} stopped by a data check ({names})"
    named = checks[0].name if len(checks) == 1 else f"{len(checks)} checks"
    return "checks", f"Groundswell: {job} data check failed ({named})"


def failure_words(failure: StepFailureData) -> str:
    """What went wrong in one step, in words that quote no value: our own dg.Failure's
    description (written to say what to do), else only the error's type, since a DuckDB
    or Python message may quote a cell."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return _trim(failure.user_failure_data.description)
    error = failure.error
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause  # Dagster's wrapper around the user's own exception
    name = error.cls_name if error is not None else "an error"
    where = "" if failure.error_source != ErrorSource.FRAMEWORK_ERROR else " (in Dagster itself)"
    return f"{name}{where}; the run's log in the Dagster UI has the details."


def _refused_settings(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """When the run could not load Groundswell because a setting or configuration file is
    wrong: that refusal, whose lines name each setting or file and never a value."""
    records = instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT}
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "event_specific_data", None) if event else None
        error = getattr(data, "error", None)
        while error is not None:
            if error.cls_name == "SettingsError":
                # Dagster's message starts with the class's path: the refusal's own words only.
                return _trim(error.message.strip().split("SettingsError: ", 1)[-1])
            error = error.cause or error.context
    return None


def _events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    wanted = {
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
    records = instance.get_records_for_run(run_id, of_type=wanted).records
    return [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]


def _failed_checks(events: Iterable[dg.DagsterEvent], describe: CheckDescriptions) -> list[_Check]:
    """The last evaluation of each check in the run, where it failed."""
    last: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for event in events:
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            last[(evaluation.asset_key.to_user_string(), evaluation.check_name)] = evaluation
    checks = []
    for (asset, name), evaluation in sorted(last.items()):
        if evaluation.passed:
            continue
        metadata = evaluation.metadata
        details = metadata.get("details")
        checks.append(
            _Check(
                name=name,
                asset=asset,
                severity=evaluation.severity.value,
                blocking=bool(evaluation.blocking),
                description=evaluation.description or describe(evaluation.asset_check_key),
                numbers={k: v.value for k, v in metadata.items() if _is_number(v)},
                details=str(details.value) if details is not None else "",
            )
        )
    return checks


def _is_number(value: dg.MetadataValue) -> bool:
    return isinstance(value, dg.IntMetadataValue | dg.FloatMetadataValue) and (
        value.value is not None
    )


def _planned(instance: dg.DagsterInstance, run: dg.DagsterRun) -> set[str]:
    if not run.execution_plan_snapshot_id:
        return set()
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return set(plan.step_keys_to_execute or (step.key for step in plan.steps))


def _started(events: Iterable[dg.DagsterEvent]) -> set[str]:
    return {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_START}


def _steps_phrase(keys: list[str]) -> str:
    if not keys:
        return ""
    if len(keys) == 1:
        return f"step {keys[0]}"
    shown = ", ".join(keys[:2])
    return f"steps {shown}" + (f" and {len(keys) - 2} more" if len(keys) > 2 else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _result(run: dg.DagsterRun, faults: dict, stops: set[str], skipped: int) -> list[str]:
    parts = []
    if faults:
        parts.append(f"{_plural(len(faults), 'step')} failed")
    if stops:
        parts.append(f"{_plural(len(stops), 'step')} stopped by a blocking data check")
    if skipped:
        parts.append(f"{_plural(skipped, 'step')} did not run because of it")
    status = "succeeded"
    if run.status == dg.DagsterRunStatus.FAILURE:
        status = "failed" if faults or not stops else "stopped"
    return [f"Result: the run {status}" + (f": {'; '.join(parts)}." if parts else ".")]


def _check_line(check: _Check) -> str:
    severity = "error" if check.severity == "ERROR" else "warning"
    lines = [
        f"- {check.name} on {check.asset} ({severity}{', blocking' if _blocks(check) else ''})"
    ]
    if check.description:
        lines.append(f"  checks: {_trim(check.description)}")
    if check.numbers:
        found = ", ".join(f"{k} {_number(v)}" for k, v in sorted(check.numbers.items()))
        lines.append(f"  found: {found}")
    return "\n".join(lines)


def _blocks(check: _Check) -> bool:
    """A blocking check stops the steps after it only when it fails as an error."""
    return check.blocking and check.severity == "ERROR"


def _number(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def _detail_lines(details: str) -> list[str]:
    lines = [line.strip() for line in details.splitlines() if line.strip()]
    lines = [line if line.startswith("- ") else f"- {line}" for line in lines] or ["- (none)"]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"- and {len(lines) - MAX_LINES} more"]
    return [_trim(line) for line in lines]


REFUSED_STEP = "settings_refused"  # the one step of pipelines/definitions.refusing_definitions


def _what_to_do(
    failed: bool, guard: _Check | None, checks: list[_Check], refused: bool = False
) -> list[str]:
    todo = []
    if refused:
        todo.append(
            "- Fix each setting or file named above (in .env, or the file itself), then check "
            "with `make status`; the next run (the schedule, `make run`, or Launchpad in the "
            "Dagster UI) starts as usual, and nothing landed is lost."
        )
    elif failed:
        todo.append(
            "- Fix what each failed step's message above names, then start the run again "
            "(`make run`, or Launchpad in the Dagster UI): it picks up from what was saved, "
            "nothing landed is lost. Where a message gives only an error's type, open the run "
            "(the link above) and read the failed step's log."
        )
    if guard is not None:
        todo.append(f"- Check the plan: the sync_plan asset in the Dagster UI. {CONFIRM}")
    if checks:
        todo.append(
            "- Open each failed check on its asset in the Dagster UI (the run's link) and look "
            "at what changed since the last run: a source that returned fewer records, a file "
            "or setting edited. A check that blocks the steps after it holds them until the "
            "cause is fixed (or confirmed); a warning stops nothing."
        )
    return todo


def _trim(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1].rstrip() + "…"
