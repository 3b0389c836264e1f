"""The data checks that stop harm (issue 16), each tripped in a real run: a source fetching
far less than its recent median, a source not landed for a day and more, a file with too
many bad rows, and the sudden changes (people lost, merged, moved rung) that stop the
pushes until confirmed. A clean run passes every one."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.status import collect, publish
from portal.service_status import read_status, status_path
from portal.settings import PortalSettings
from sandbox import start_sandbox
from tests.portal.conftest import (
    ARTIFACTS,
    CHROMIUM,
    NO_CHROMIUM,
    accept_invitation,
    chromium_page,
    data_portal,
    serving,
)
from tests.support.pipeline import ROOT, configure, run_job, run_push

PEOPLE, SEED = 80, 16
DATA_CHECKS = (
    "records_steady",
    "quarantine_within_share",
    "people_count_steady",
    "merges_within_share",
    "rung_changes_within_share",
)
PUSHES = ("mailchimp_sync", "action_network_sync")
GOOD_ROWS = "First name,Last name,Email\nAna,Lima,ana@example.org\nBo,Ng,bo@example.org\n"
# Three rows with a cell more than the header: quarantined, the file's good rows still load.
BAD_ROWS = "".join(f"Cy{i},Oh,cy{i}@example.org,stray\n" for i in range(3))


def _evaluations(result) -> dict[tuple[str, str], object]:
    """(asset, check) -> the evaluation, for every check the run evaluated."""
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _materialised(result, key: str) -> bool:
    return any(
        e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.path[-1] == key
        for e in result.all_events
        if e.asset_key is not None
    )


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    """A sandbox organisation and its first, clean run, kept in a Dagster instance on disk
    (as `make serve` keeps its history) for `make status` to read."""
    root = tmp_path_factory.mktemp("checks")
    (root / "run").mkdir()
    inbox = root / "inbox"
    (root / "dagster").mkdir()
    with (
        start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
        dg.DagsterInstance.local_temp(tempdir=str(root / "dagster")) as instance,
    ):
        warehouse = configure(monkeypatch, root / "run", sandbox.env, inbox)
        monkeypatch.setenv("BACKUP_DIR", str(root / "backups"))
        first = run_job(instance)
        assert first.success
        yield sandbox, warehouse, inbox, instance, first


@pytest.fixture(scope="module")
def tripped(org):
    """A second run after the warehouse's history was made to look like the input broke:
    a larger organisation and other rungs at the last run, merges this run, a source whose
    recent landings were far larger, one not landed for 30 hours, a file of bad rows."""
    _, warehouse, inbox, _, _ = org
    con = duckdb.connect(str(warehouse))
    try:
        last = con.execute("SELECT max(computed_at) FROM ladder_history").fetchone()[0]
        con.execute("UPDATE ladder_history SET tier = 'elsewhere' WHERE computed_at = ?", [last])
        con.execute(
            "INSERT INTO ladder_history SELECT ?, 'p_gone' || i, 'supporter', 5 "
            "FROM range(60) t(i)",
            [last],
        )
        # Merged "this run": stamped after the run starts.
        later = last + timedelta(days=3650)
        con.execute(
            "INSERT INTO person_merges SELECT 'p_old' || i, 'p_new', 'merged by email', ? "
            "FROM range(40) t(i)",
            [later],
        )
        con.execute(
            "INSERT INTO source_landings SELECT 'earlier' || i, 'mailchimp_members', "
            "'mailchimp', 'incremental', 100000, 0, ?, ? FROM range(3) t(i)",
            [last - timedelta(days=3), last - timedelta(days=3)],
        )
        con.execute(
            "UPDATE source_landings SET landed_at = landed_at - INTERVAL 30 HOUR "
            "WHERE asset = 'action_network_tags'"
        )
    finally:
        con.close()
    (inbox / "signin.csv").write_text(GOOD_ROWS + BAD_ROWS)
    second = run_job(org[3])
    return second, warehouse


def test_a_clean_run_passes_every_data_check(org):
    first = org[4]
    evaluations = _evaluations(first)
    names = {check for _, check in evaluations}
    assert set(DATA_CHECKS) <= names
    assert any(check.endswith("_landed_recently") for check in names)
    failed = [key for key, e in evaluations.items() if not e.passed]
    assert failed == []
    assert all(_materialised(first, push) for push in PUSHES)


def test_a_source_fetching_far_less_than_its_recent_median_warns(tripped):
    second, _ = tripped
    check = _evaluations(second)[("mailchimp_members", "records_steady")]
    assert not check.passed and check.severity.value == "WARN"
    assert "median" in check.description and "key" in check.description
    assert check.metadata["recent_median"].value == 100000
    # The other sources, with no such history, pass.
    assert _evaluations(second)[("action_network_people", "records_steady")].passed


def test_a_source_not_landed_for_more_than_26_hours_fails(tripped):
    second, _ = tripped
    evaluations = _evaluations(second)
    stale = evaluations[("source_freshness", "action_network_tags_landed_recently")]
    assert not stale.passed and stale.severity.value == "ERROR"
    assert "30 hours" in stale.description and "CHECK_FRESHNESS_HOURS" in stale.description
    assert evaluations[("source_freshness", "action_network_people_landed_recently")].passed


def test_a_file_with_too_many_bad_rows_fails_the_quarantine_check(tripped):
    second, warehouse = tripped
    check = _evaluations(second)[("form_exports", "quarantine_within_share")]
    assert not check.passed and check.metadata["quarantined"].value == 3
    assert "3 of 5 rows" in check.description
    # The good rows of that file still landed.
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        landed = con.execute("SELECT count(*) FROM raw_forms WHERE file_name = 'signin.csv'")
        assert landed.fetchone()[0] == 2
    finally:
        con.close()


@pytest.mark.parametrize(
    ("asset", "check", "words"),
    [
        ("people", "people_count_steady", "the number of people fell by"),
        ("people", "merges_within_share", "40 people were merged"),
        ("ladder", "rung_changes_within_share", "people changed rung"),
    ],
)
def test_each_sudden_change_fails_its_check(tripped, asset, check, words):
    second, _ = tripped
    evaluation = _evaluations(second)[(asset, check)]
    assert not evaluation.passed and evaluation.severity.value == "ERROR"
    assert words in evaluation.description and "CONFIRM=1" in evaluation.description


def test_make_status_says_what_failed_and_that_the_pushes_wait(org, tripped):
    _, warehouse, _, instance, _ = org
    second, _ = tripped
    status = collect(instance)
    assert status["last_run"]["run_id"] == second.run_id
    # A blocking check that fails fails its step: the run is marked failed at sync_plan.
    assert status["last_run"]["status"] == "FAILURE"
    assert status["last_run"]["failed_steps"] == ["sync_plan"]
    assert status["last_run"]["stopped_for_confirmation"]
    failed = {(c["asset"], c["check"]) for c in status["failed_checks"]}
    assert {
        ("people", "merges_within_share"),
        ("ladder", "rung_changes_within_share"),
        ("source_freshness", "action_network_tags_landed_recently"),
        ("sync_plan", "within_guard_rails"),
    } <= failed
    pending = status["pending_confirmation"]
    assert pending["run_id"] == second.run_id and "CONFIRM=1" in pending["how"]
    assert any("people_count_steady" in p for p in pending["problems"])
    landed = {s["asset"]: s for s in status["sources"]}
    assert landed["action_network_people"]["hours_ago"] < 1
    assert not any(s["stale"] or s["skipped"] for s in status["sources"])
    assert status["next_run"]["cron"] == "0 2 * * *"
    # Nothing personal: no address of the organisation's people appears anywhere in it.
    text = json.dumps(status)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        emails = [
            e for (e,) in con.execute("SELECT email FROM people WHERE email IS NOT NULL").fetchall()
        ]
    finally:
        con.close()
    assert emails and not any(e in text for e in emails)


def test_make_status_prints_it_and_exits_1_when_something_needs_attention(org, tripped):
    root = Path(org[3].root_directory)
    env = {**os.environ, "DAGSTER_HOME": str(root)}
    shown = subprocess.run(
        [sys.executable, "-m", "pipelines.status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert shown.returncode == 1, shown.stderr
    out = shown.stdout
    assert "Last run:        stopped before pushing, waiting for confirmation" in out
    assert "STOPPED, waiting for confirmation" in out and "make run CONFIRM=1" in out
    assert "ERROR people / merges_within_share" in out
    assert "action_network_people" in out and re.search(r"\d+ minutes? ago", out)
    # It also left the same figures beside the portal's snapshot, for HQ's page.
    assert read_status(status_path(os.environ["PORTAL_SNAPSHOT"]))["last_run"]


def test_make_status_still_answers_when_a_file_is_broken_and_names_it(org, tripped, tmp_path):
    """The morning after someone broke ladder.yaml: the status of the last runs still
    shows, with the file to fix first, and exits 1."""
    from pipelines.status import main

    broken = tmp_path / "ladder.yaml"
    broken.write_text((ROOT / "ladder.yaml").read_text() + "\nnot_a_key: 1\n")
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        contextlib.redirect_stdout(io.StringIO()) as out,
    ):
        monkeypatch.setenv("DAGSTER_HOME", org[3].root_directory)
        monkeypatch.setenv("LADDER_CONFIG", str(broken))
        code = main([])
    shown = out.getvalue()
    assert code == 1
    assert "Last run:        stopped before pushing" in shown
    assert f"{broken}: not_a_key: unknown key" in shown


@pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
def test_hq_sees_the_service_status_in_the_portal(org, tripped, tmp_path):
    publish(org[3])
    snapshot = Path(os.environ["PORTAL_SNAPSHOT"])
    settings = PortalSettings(PORTAL_DB=str(tmp_path / "portal.db"))
    with ExitStack() as stack:
        site = data_portal(
            lambda app: stack.enter_context(serving(app)),
            settings,
            ROOT / "teams.yaml",
            snapshot,
        )
        page = stack.enter_context(chromium_page())
        accept_invitation(
            page, site.path_of(site.auth.invite("hq@example.org", "hq")), "hq@example.org"
        )
        table = page.locator("#service table")
        assert table.count() == 1
        text = table.inner_text()
        assert "waiting for confirmation" in text and "merges_within_share" in text
        alerts = page.locator("#service tr.service--alert")
        assert alerts.count() >= 4
        (ARTIFACTS / "service_status").mkdir(parents=True, exist_ok=True)
        page.locator("#service").screenshot(path=str(ARTIFACTS / "service_status" / "hq.png"))
        assert page.problems == []


def test_sudden_changes_stop_the_pushes_until_confirmed(org, tripped):
    second, _ = tripped
    guard = _evaluations(second)[("sync_plan", "within_guard_rails")]
    assert not guard.passed
    details = guard.metadata["details"].value
    for check in ("people_count_steady", "merges_within_share", "rung_changes_within_share"):
        assert check in details
    assert not any(_materialised(second, push) for push in PUSHES)
    # No good data lost: the ladder, the lists and the downloads were still built.
    assert _materialised(second, "ladder") and _materialised(second, "activation_exports")

    # Still tripped (the merges are stamped after every later run's start): a plain push
    # stops again; a confirmed one sends.
    assert not any(_materialised(run_push(), push) for push in PUSHES)
    confirmed = run_push(
        run_config={"ops": {"sync_plan": {"config": {"confirm_large_changes": True}}}}
    )
    assert confirmed.success
    assert all(_materialised(confirmed, push) for push in PUSHES)


def test_the_limits_are_settings(org, tripped, monkeypatch):
    # With every share allowed, the same sudden merges pass (they are stamped "this run"
    # for every later run too).
    from pipelines.definitions import JOB_NAME, build_definitions

    def people_checks():
        defs = build_definitions()
        # `people` is made by the identity op with other assets: it runs whole.
        identity = next(
            op
            for op in defs.assets or ()
            if isinstance(op, dg.AssetsDefinition) and dg.AssetKey("people") in op.keys
        )
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            asset_selection=sorted(identity.keys),
        )
        return _evaluations(result)[("people", "merges_within_share")]

    # The tripped run failed it (test_each_sudden_change_fails_its_check).
    monkeypatch.setenv("CHECK_MERGE_SHARE", "1")
    assert people_checks().passed
