"""Backups and restore on the simulators: every successful run leaves a backup; a run whose
backup folder cannot be written still succeeds, with its check failed; a restored backup
brings back everyone it held under the same person ids, and never a person forgotten
after it was taken; a missing, damaged or foreign backup is refused and the warehouse is
left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.__main__ import forget
from pipelines.restore import main as restore_main
from tests.support.pipeline import ephemeral_commands, run_job, sandbox_organisation
from warehouse import backup, forgotten

PEOPLE = 80
ROOT = Path(__file__).resolve().parents[2]


def _people(warehouse) -> dict:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "people": {r[0] for r in con.execute("SELECT person_id FROM people").fetchall()},
            "sources": set(
                con.execute(
                    "SELECT source, source_record_id, person_id FROM person_sources"
                ).fetchall()
            ),
        }
    finally:
        con.close()


def _traces(warehouse, person_id: str, email: str) -> dict:
    """Where the person still is (counts only)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        count = lambda sql, arg: con.execute(sql, [arg]).fetchone()[0]  # noqa: E731
        return {
            "people": count("SELECT count(*) FROM people WHERE person_id = ?", person_id),
            "people_by_email": count(
                "SELECT count(*) FROM people WHERE sha256(lower(email)) = ?", digest
            ),
            "person_sources": count(
                "SELECT count(*) FROM person_sources WHERE person_id = ?", person_id
            ),
            "activities": count("SELECT count(*) FROM activities WHERE person_id = ?", person_id),
            "ladder": count("SELECT count(*) FROM ladder WHERE person_id = ?", person_id),
            "ledger": count("SELECT count(*) FROM sync_ledger WHERE person_id = ?", person_id),
            "staged": count(
                "SELECT count(*) FROM stg_source_records WHERE sha256(lower(email)) = ?", digest
            ),
            "raw_mailchimp": count(
                "SELECT count(*) FROM raw_mailchimp "
                "WHERE sha256(lower(payload ->> '$.email_address')) = ?",
                digest,
            ),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    root = tmp_path_factory.mktemp("backup")
    blocker = root / "not_a_folder"
    blocker.write_text("a regular file: nothing can be made under it\n")
    with sandbox_organisation(root, PEOPLE, 11) as (
        sandbox,
        warehouse,
        _inbox,
        monkeypatch,
    ):
        ephemeral_commands(monkeypatch)
        backups = root / "backups"
        monkeypatch.setenv("BACKUP_DIR", str(backups))

        first = run_job()
        first_backups = backup.backups(backups)
        # The third run's backup replaces it (the newest of the day is kept): keep a copy.
        kept = root / "kept"
        kept.mkdir()
        for path in first_backups:
            shutil.copy2(path, kept / path.name)
            shutil.copy2(backup.checksum_path(path), kept / backup.checksum_path(path).name)
        first_backups = backup.backups(kept)
        before = _people(warehouse)
        con = duckdb.connect(str(warehouse), read_only=True)
        email, person_id = con.execute(
            """
            SELECT p.email, p.person_id FROM people p JOIN sync_ledger l USING (person_id)
            WHERE l.kind = 'tag' AND l.state = 'active' AND p.email IS NOT NULL
            GROUP BY ALL HAVING count(DISTINCT l.destination) = 2
            ORDER BY p.person_id LIMIT 1
            """
        ).fetchone()
        member_keys = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT member_key FROM sync_ledger WHERE person_id = ?", [person_id]
            ).fetchall()
        }
        con.close()

        # Forgotten after the first backup was taken.
        assert forget(email) == 0
        after_forget = _people(warehouse)

        # The next day, the backup folder cannot be made: the run must still succeed.
        sandbox.advance(days=1)
        monkeypatch.setenv("BACKUP_DIR", str(blocker / "backups"))
        instance = dg.DagsterInstance.ephemeral()
        unwritable = run_job(instance)
        second = _people(warehouse)
        monkeypatch.setenv("BACKUP_DIR", str(backups))

        # Bring back the backup from before the erasure.
        restored_code = restore_main(["--from", str(first_backups[-1])])
        right_after_restore = _traces(warehouse, person_id, email)
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()
        third_run = run_job()
        writes = sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes
        yield {
            "root": root,
            "warehouse": warehouse,
            "backups": backups,
            "first": first,
            "first_backups": first_backups,
            "before": before,
            "after_forget": after_forget,
            "unwritable": unwritable,
            "unwritable_instance": instance,
            "second": second,
            "restored_code": restored_code,
            "right_after_restore": right_after_restore,
            "third_run": third_run,
            "third_backups": backup.backups(backups),
            "third": _people(warehouse),
            "after_third": _traces(warehouse, person_id, email),
            "person_id": person_id,
            "email": email,
            "member_keys": member_keys,
            "writes": writes,
            "exports": "\n".join(p.read_text() for p in (root / "run").rglob("*.csv")),
        }


def test_a_successful_run_leaves_one_checked_backup(story):
    assert story["first"].success
    assert len(story["third_backups"]) == 1, "the day's newest backup replaced the first"
    [third] = story["third_run"].asset_materializations_for_node("warehouse_backup")
    assert third.metadata["backups_deleted"].value == 1
    [written] = story["first_backups"]
    assert backup.taken_at(written) is not None
    assert backup.recorded_checksum(written) == backup.sha256_of(written)
    backup.check_warehouse_file(written)  # a whole warehouse, readable
    checks = story["first"].get_asset_check_evaluations()
    [check] = [c for c in checks if c.check_name == "backup_written"]
    assert check.passed
    [done] = story["first"].asset_materializations_for_node("warehouse_backup")
    assert done.metadata["bytes"].value == written.stat().st_size
    assert done.metadata["backups_kept"].value == 1


def test_the_backup_runs_last_holding_the_pool(story):
    events = [
        e.step_key
        for e in story["first"].all_events
        if e.event_type_value == "STEP_START" and e.step_key
    ]
    assert events[-1].startswith("warehouse_backup"), events[-3:]


def test_an_unwritable_backup_folder_fails_the_check_not_the_run(story):
    result = story["unwritable"]
    assert result.success, "the run itself succeeded"
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "backup_written"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert "BACKUP_DIR=" in check.description and "free space" in check.description
    assert check.metadata["bytes"].value == 0
    assert check.metadata["backups_kept"].value == 0


def test_restore_keeps_the_old_warehouse_aside(story):
    assert story["restored_code"] == 0
    aside = list(story["warehouse"].parent.glob("warehouse.duckdb.before-restore-*"))
    assert len(aside) == 1
    backup.check_warehouse_file(aside[0])
    assert not list(story["warehouse"].parent.glob(".warehouse.duckdb.restore-*"))


def test_a_forgotten_person_does_not_come_back_with_the_backup(story):
    at_once = story["right_after_restore"]
    assert at_once["people"] == 0 and at_once["person_sources"] == 0, at_once
    assert at_once["activities"] == 0 and at_once["ledger"] == 0, at_once
    assert at_once["raw_mailchimp"] == 0, at_once
    assert story["third_run"].success
    later = story["after_third"]
    assert set(later.values()) == {0}, later
    assert story["email"].lower() not in story["exports"].lower()
    assert story["person_id"] not in story["exports"]


def test_a_forgotten_person_is_not_pushed_again(story):
    email = story["email"].lower()
    touched = [
        w for w in story["writes"] if w.member in story["member_keys"] or w.email.lower() == email
    ]
    assert touched == []


def test_a_round_trip_keeps_every_person_id(story):
    before, second, third = story["before"], story["second"], story["third"]
    forgotten_id = story["person_id"]
    assert forgotten_id in before["people"]
    assert second["people"] - before["people"], "the day brought new people"
    # Everyone the backup held is back under the same id, and those who arrived after it
    # come back from the platforms under theirs: nothing is lost.
    assert before["people"] - {forgotten_id} <= third["people"]
    assert third["people"] == second["people"]
    assert third["sources"] == second["sources"]


def _unchanged(story, argv: list[str], expected: str) -> None:
    warehouse = story["warehouse"]
    before = warehouse.read_bytes()
    asides = set(warehouse.parent.glob("*.before-restore-*"))
    code, err = _restore_output(argv)
    assert code == 2
    assert expected in err, err
    assert "Nothing was restored" in err
    assert warehouse.read_bytes() == before
    assert set(warehouse.parent.glob("*.before-restore-*")) == asides
    assert not list(warehouse.parent.glob(".warehouse.duckdb.restore-*"))


def _restore_output(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = restore_main(argv)
    return code, err.getvalue()


def test_a_missing_backup_is_refused(story):
    missing = story["root"] / "nowhere.duckdb"
    _unchanged(story, ["--from", str(missing)], f"There is no backup file {missing}")


def test_a_backup_that_does_not_match_its_checksum_is_refused(story):
    [good] = story["first_backups"]
    bad = story["root"] / "flipped" / good.name
    bad.parent.mkdir()
    shutil.copyfile(good, bad)
    shutil.copyfile(backup.checksum_path(good), backup.checksum_path(bad))
    with open(bad, "r+b") as handle:
        handle.seek(bad.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    _unchanged(story, ["--from", str(bad)], "does not match its checksum")


def test_a_truncated_backup_without_checksum_is_refused(story):
    [good] = story["first_backups"]
    cut = story["root"] / "cut" / good.name
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    _unchanged(story, ["--from", str(cut)], f"{cut} cannot be read as a warehouse")


def test_a_file_that_is_not_a_warehouse_is_refused(story):
    text = story["root"] / "notes.duckdb"
    text.write_text("not a database at all\n" * 100)
    _unchanged(story, ["--from", str(text)], "is not a DuckDB database")
    other = story["root"] / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    _unchanged(story, ["--from", str(other)], "not a Groundswell warehouse")


def test_a_restore_is_refused_while_the_warehouse_is_in_use(story):
    [good] = story["first_backups"]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(story["warehouse"])!r})
                print("holding", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        _unchanged(story, ["--from", str(good)], "is in use by another program")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_the_keeper_holds_hashes_only(story):
    keeper = forgotten.keeper_path(story["warehouse"])
    text = keeper.read_text()
    assert story["email"].lower() not in text.lower()
    assert story["person_id"] not in text
    kept = forgotten.read(keeper)
    assert {k.kind for k in kept} >= {"email_key", "person_id"}
    assert not keeper.is_relative_to(story["backups"])


def test_a_restore_is_refused_while_a_run_is_live(story, tmp_path, monkeypatch):
    """A run opens the warehouse step by step: between two steps only Dagster knows it."""
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
    from dagster._core.utils import make_new_run_id

    from pipelines import runs

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    instance = runs.open_instance()
    run_id = make_new_run_id()
    # A run of this very process: alive, so it is not cleared as dead.
    instance.add_run(
        DagsterRun(
            job_name="groundswell_sync",
            run_id=run_id,
            status=DagsterRunStatus.STARTED,
            tags=runs.run_tags(),
        )
    )
    [good] = story["first_backups"]
    _unchanged(story, ["--from", str(good)], f"A run is using the warehouse now (run {run_id[:8]}")
    instance.report_run_failed(instance.get_run_by_id(run_id), "test over")


def test_the_command_names_what_to_give(story):
    """`make restore` with no FROM, and with a file that is not there, from the command line."""
    warehouse = story["warehouse"]
    before = warehouse.read_bytes()
    for given, expected in (("", "make restore FROM=latest"), ("gone.duckdb", "no backup file")):
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.restore", "--from", given],
            cwd=warehouse.parent,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr, done.stderr
    assert warehouse.read_bytes() == before


def test_a_damaged_warehouse_is_replaced_and_kept_aside(story, tmp_path):
    from pipelines.restore import restore

    [good] = story["first_backups"]
    damaged = tmp_path / "warehouse.duckdb"
    cut = story["warehouse"].read_bytes()[:100_000]
    damaged.write_bytes(cut)
    done = restore(good, damaged)
    assert done.aside is not None and done.aside.read_bytes() == cut
    backup.check_warehouse_file(damaged)
    assert _people(damaged) == _people(good)
    assert done.checksum_checked
