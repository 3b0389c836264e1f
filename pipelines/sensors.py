"""Sensors: the forms inbox (a new or changed export starts the forms load and everything
downstream of it), and dead runs (a run whose process was killed frees its pool slot)."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from connectors.forms.reader import list_exports
from connectors.forms.settings import FormsSettings
from pipelines import runs
from pipelines.resources import PlatformResource

SYNC_JOB = "groundswell_sync"  # the whole job (pipelines/definitions.py)

forms_sync = dg.define_asset_job(
    "forms_sync",
    selection=dg.AssetSelection.assets("form_exports").downstream(),
    description="Load new form exports and rebuild identity, the ladder, pushes and exports.",
    executor_def=dg.in_process_executor,  # as groundswell_sync (pipelines/definitions.py)
)


def inbox_state(inbox: Path) -> dict[str, str]:
    """Each export's name with its modification time and size: cheap to read every minute."""
    state = {}
    for path in list_exports(inbox):
        stat = path.stat()
        state[path.name] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return state


@dg.sensor(
    job=forms_sync,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts forms_sync when a CSV or .xlsx workbook arrives in (or changes in) "
    "FORMS_INBOX, once the whole job has run (the first whole run loads the inbox itself).",
)
def forms_inbox_sensor(context: dg.SensorEvaluationContext, forms: PlatformResource):
    state = inbox_state(Path(FormsSettings.of(forms.settings).FORMS_INBOX))
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, stamp in state.items() if previous.get(name) != stamp)
    context.update_cursor(json.dumps(state, sort_keys=True))
    if not changed:
        return dg.SkipReason("no new or changed form exports")
    if not synced_once(context.instance):
        # A ladder built from the forms alone would be the baseline the first whole sync is
        # compared with, and every person it adds would look like a sudden change.
        return dg.SkipReason(
            f"{len(changed)} form export(s) wait for the first {SYNC_JOB} run, which loads "
            "the inbox with everything else"
        )
    key = hashlib.sha256(json.dumps({n: state[n] for n in changed}).encode()).hexdigest()[:16]
    context.log.info(f"{len(changed)} new or changed form export(s)")
    return dg.RunRequest(run_key=key, tags={"groundswell/trigger": "forms_inbox"})


def synced_once(instance: dg.DagsterInstance) -> bool:
    """Whether the whole job has ever finished on this instance."""
    return bool(
        instance.get_run_records(
            dg.RunsFilter(job_name=SYNC_JOB, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
        )
    )


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed any run whose process is gone (killed, out of memory) and frees "
    "its slot of the warehouse pool, so the nightly schedule never waits on a dead run.",
)
def dead_runs_sensor(context: dg.SensorEvaluationContext):
    cleared = runs.clear_dead_runs(context.instance, log=context.log.warning)
    return dg.SkipReason(f"{cleared} dead run(s) cleared" if cleared else "no dead runs")
