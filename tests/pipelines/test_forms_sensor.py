"""The inbox sensor asks for a run when an export arrives or changes, and only then."""

import dagster as dg
from dagster._core.utils import make_new_run_id

from pipelines.resources import PlatformResource
from pipelines.sensors import forms_inbox_sensor

EXPORT = "First name,Last name,Email\nAna,Lima,ana@example.org\n"


def _instance(synced: bool = True) -> dg.DagsterInstance:
    """An instance where the whole job has (or has not yet) finished once."""
    instance = dg.DagsterInstance.ephemeral()
    if synced:
        instance.add_run(
            dg.DagsterRun(
                job_name="groundswell_sync",
                run_id=make_new_run_id(),
                status=dg.DagsterRunStatus.SUCCESS,
            )
        )
    return instance


def evaluate(inbox, cursor, instance=None):
    context = dg.build_sensor_context(
        instance=instance or _instance(),
        cursor=cursor,
        resources={
            "forms": PlatformResource(platform="forms", settings={"FORMS_INBOX": str(inbox)})
        },
    )
    result = forms_inbox_sensor(context)
    return result, context.cursor


def test_new_and_changed_files_start_a_run(tmp_path):
    result, cursor = evaluate(tmp_path, None)
    assert isinstance(result, dg.SkipReason)
    (tmp_path / "signups.csv").write_text(EXPORT)
    result, cursor = evaluate(tmp_path, cursor)
    assert isinstance(result, dg.RunRequest)
    result, cursor = evaluate(tmp_path, cursor)
    assert isinstance(result, dg.SkipReason), "nothing new since"
    (tmp_path / "signups.csv").write_text(EXPORT + "Bo,Ng,bo@example.org\n")
    result, _ = evaluate(tmp_path, cursor)
    assert isinstance(result, dg.RunRequest), "a corrected export"
    (tmp_path / "notes.txt").write_text("not an export")
    result, _ = evaluate(tmp_path, _)
    assert isinstance(result, dg.SkipReason)


def test_exports_wait_for_the_first_whole_run_which_loads_them(tmp_path):
    (tmp_path / "signups.csv").write_text(EXPORT)
    result, cursor = evaluate(tmp_path, None, _instance(synced=False))
    assert isinstance(result, dg.SkipReason) and "first groundswell_sync" in result.skip_message
    # Loaded by that first whole run: not asked for again after it, only what changes.
    result, cursor = evaluate(tmp_path, cursor)
    assert isinstance(result, dg.SkipReason)
    (tmp_path / "more.csv").write_text(EXPORT)
    result, _ = evaluate(tmp_path, cursor)
    assert isinstance(result, dg.RunRequest)


def test_forms_job_selects_the_load_and_everything_downstream(monkeypatch):
    from pipelines.definitions import build_definitions

    job = build_definitions().resolve_job_def("forms_sync")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"form_exports", "people", "ladder", "activation_exports"} <= keys
    assert "action_network_people" not in keys and "mailchimp_members" not in keys
