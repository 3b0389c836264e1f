"""Alerts, end to end: real runs of the job on the sandbox (a step failing, a push stopped
by the guard rails, a data check failing, a clean run), the real alert sensors evaluated
against them, and what a real SMTP server and a real webhook receiver got."""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor
from dagster._core.errors import DagsterError
from dagster._core.events import StepFailureData
from dagster._serdes import serialize_value
from dagster._utils.error import SerializableErrorInfo

from pipelines.alert_outbox import Outbox
from pipelines.alert_sensors import (
    ALERT_SENSORS,
    alert_on_failed_checks,
    alert_on_run_failure,
    alert_outbox_sensor,
    outbox_for,
)
from pipelines.alerts import failure_words
from pipelines.service_settings import ServiceSettings
from sandbox import start_sandbox
from tests.support.alert_receivers import MailServer, Webhook, free_port
from tests.support.pipeline import ROOT, configure

pytestmark = [
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),  # repository_def
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

SEED, PEOPLE = 11, 60
UI = "https://dagster.example.org"
JOB = "groundswell_sync"
PUSH_ASSETS = ("sync_plan", "mailchimp_sync", "action_network_sync")
IDENTITY_ASSETS = ("person_sources", "people", "identity_review")
ALERT_SETTINGS = (
    "DAGSTER_UI_URL",
    "ALERT_WEBHOOK_URL",
    "ALERT_EMAIL_TO",
    "ALERT_EMAIL_FROM",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_SECURITY",
)


@dataclass
class Runs:
    instance: dg.DagsterInstance
    repository: dg.RepositoryDefinition
    clean: dg.ExecuteInProcessResult
    stopped: dg.ExecuteInProcessResult
    checked: dg.ExecuteInProcessResult
    failed: dg.ExecuteInProcessResult
    personal: set[str]  # every email, phone, name and person_id the sandbox run holds


def _execute(defs: dg.Definitions, instance, assets=None, run_config=None):
    job = defs.resolve_job_def(JOB)
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        asset_selection=[dg.AssetKey(a) for a in assets] if assets else None,
    )


def _through_the_plan(defs: dg.Definitions) -> list[str]:
    """The sync plan and everything upstream of it (whole ops: identity makes three
    assets): what the plan needs, without the exports and the portal nothing here reads."""
    needed = dg.AssetSelection.assets("sync_plan").upstream().resolve(defs.resolve_asset_graph())
    return sorted(
        key.to_user_string()
        for op in defs.assets or ()
        if isinstance(op, dg.AssetsDefinition) and op.keys & needed
        for key in op.keys
    )


def _personal(sandbox, warehouse: Path) -> set[str]:
    found = set()
    for human in sandbox.org.humans:
        found.update(e.lower() for e in human.emails)
        found.add(f"{human.given} {human.family}".lower())
        if human.phone:
            found.add(human.phone)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        found.update(
            str(r[0]).lower() for r in con.execute("SELECT person_id FROM people").fetchall()
        )
    finally:
        con.close()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    """One real run of each kind, in one Dagster instance: clean (a dry run), stopped by
    the guard rails, a data check failing, and steps failing on a wrong key."""
    from pipelines.definitions import build_definitions

    root = tmp_path_factory.mktemp("alerts")
    workdir = root / "run"
    workdir.mkdir()
    instance = dg.DagsterInstance.ephemeral(tempdir=str(root / "dagster"))
    with (
        start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=root / "inbox") as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, workdir, sandbox.env, root / "inbox")
        for name in ALERT_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        defs = build_definitions()
        dry = {"ops": {"sync_plan": {"config": {"dry_run": True}}}}
        clean = _execute(defs, instance, _through_the_plan(defs), dry)
        assert clean.success

        ladder = yaml.safe_load((ROOT / "ladder.yaml").read_text())
        ladder["sync"] = {**(ladder.get("sync") or {}), "max_people": 1}
        (root / "ladder.yaml").write_text(yaml.safe_dump(ladder, sort_keys=False))
        monkeypatch.setenv("LADDER_CONFIG", str(root / "ladder.yaml"))
        stopped = _execute(build_definitions(), instance, PUSH_ASSETS)
        monkeypatch.setenv("LADDER_CONFIG", str(ROOT / "ladder.yaml"))

        decisions = workdir / "identity_decisions.csv"
        decisions.write_text(
            "record_a,record_b,match_probability,decision\n"
            "action_network:no-such-record,mailchimp:no-such-member,0.91,accept\n"
        )
        checked = _execute(defs, instance, IDENTITY_ASSETS)
        decisions.unlink()

        monkeypatch.setenv("ACTION_NETWORK_API_KEY", "wrong-key")
        failed = _execute(build_definitions(), instance)
        personal = _personal(sandbox, warehouse)
    assert not failed.success and not stopped.success and checked.success
    return Runs(instance, defs.get_repository_def(), clean, stopped, checked, failed, personal)


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")

    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("WARNING")]


@dataclass
class Receivers:
    mail: MailServer
    webhook: Webhook
    outbox: Outbox
    log: Captured


@pytest.fixture()
def receivers(runs, tmp_path, monkeypatch):
    """A fresh SMTP server and webhook receiver, the alert settings pointing at them, and
    an empty outbox."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    mail, webhook = MailServer(), Webhook()
    mail.start()
    webhook.start()
    for name in ALERT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**mail.env, "ALERT_WEBHOOK_URL": webhook.url, "DAGSTER_UI_URL": UI}.items():
        monkeypatch.setenv(name, value)
    outbox = outbox_for(runs.instance)
    shutil.rmtree(outbox.folder, ignore_errors=True)
    try:
        yield Receivers(mail, webhook, outbox, Captured())
    finally:
        mail.stop()
        webhook.stop()


def _evaluate(runs: Runs, result: dg.ExecuteInProcessResult, log: Captured) -> None:
    """Evaluate the alert sensor that watches this run's outcome, as the daemon would."""
    run = runs.instance.get_run_by_id(result.run_id)
    failed = run.status == dg.DagsterRunStatus.FAILURE
    sensor = alert_on_run_failure if failed else alert_on_failed_checks
    event = result.get_run_failure_event() if failed else result.get_run_success_event()
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=runs.instance,
        dagster_run=run,
        dagster_event=event,
        repository_def=runs.repository,
    )
    if failed:
        context = context.for_run_failure()
    context.log.addHandler(log)
    sensor(context)


def _retry(runs: Runs, log: Captured) -> None:
    context = dg.build_sensor_context(instance=runs.instance)
    context.log.addHandler(log)
    alert_outbox_sensor(context)


def _mail_text(mail: MailServer) -> list[str]:
    return [m.get_content() for m in mail.messages]


def test_the_sensors_are_in_the_definitions():
    from pipelines.definitions import build_definitions

    names = {s.name for s in build_definitions().sensors or ()}
    assert {s.name for s in ALERT_SENSORS} <= names
    assert 60 <= alert_outbox_sensor.minimum_interval_seconds <= 300
    for sensor in ALERT_SENSORS:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_failed_run_sends_one_message_naming_job_steps_what_and_link(runs, receivers):
    _evaluate(runs, runs.failed, receivers.log)
    assert len(receivers.mail.messages) == 1 and len(receivers.webhook.bodies) == 1
    message = receivers.mail.messages[0]
    assert message["Subject"].startswith(f"Groundswell: {JOB} failed (steps action_network_")
    assert message["From"] == "groundswell@groundswell.test"
    assert receivers.mail.recipients[0] == ["ops@groundswell.test", "oncall@groundswell.test"]
    text = message.get_content()
    link = f"{UI}/runs/{runs.failed.run_id}"
    assert f"Job: {JOB}" in text and f"Run: {link}" in text
    for step in ("action_network_people", "action_network_actions", "action_network_tags"):
        assert f"- Step {step}: Action Network:" in text
    assert "the API key was refused" in text and "check ACTION_NETWORK_API_KEY" in text
    skipped = re.search(r"(\d+) steps did not run because of it", text)
    assert skipped and int(skipped.group(1)) >= 10
    assert "What to do:" in text and "start the run again" in text
    body = receivers.webhook.bodies[0]
    assert body["text"].startswith(message["Subject"]) and link in body["text"]
    assert body["blocks"][0]["text"]["text"] == message["Subject"]
    assert body["blocks"][-1]["elements"][0]["url"] == link
    assert list(receivers.outbox.folder.glob("*.json")) == [], "delivered: out of the outbox"

    # Evaluated again (a daemon restarted mid-tick): nothing is sent twice.
    _evaluate(runs, runs.failed, receivers.log)
    _retry(runs, receivers.log)
    assert len(receivers.mail.messages) == 1 and len(receivers.webhook.bodies) == 1
    assert receivers.log.warnings() == []


def test_a_push_stopped_by_the_guard_rails_says_it_waits_and_how_to_confirm(runs, receivers):
    _evaluate(runs, runs.stopped, receivers.log)
    [message] = receivers.mail.messages
    assert message["Subject"] == f"Groundswell: {JOB} push stopped, waiting for confirmation"
    text = message.get_content()
    assert "waits for confirmation" in text
    assert "- the plan touches" in text and "more than sync.max_people (1)" in text
    assert "make run CONFIRM=1" in text and "Result: the run stopped" in text
    assert "ops: {sync_plan: {config: {confirm_large_changes: true}}}" in text
    assert f"{UI}/runs/{runs.stopped.run_id}" in text
    skipped = re.search(r"(\d+) steps did not run because of it", text)
    assert skipped and int(skipped.group(1)) >= 2, "the pushes did not run"
    assert "DagsterAssetCheckFailedError" not in text, "said in words, not as an error type"
    [body] = receivers.webhook.bodies
    assert "make run CONFIRM=1" in body["text"]


def test_a_failed_data_check_names_check_asset_description_and_numbers(runs, receivers):
    _evaluate(runs, runs.checked, receivers.log)
    [message] = receivers.mail.messages
    assert message["Subject"] == f"Groundswell: {JOB} data check failed (review_decisions_apply)"
    text = message.get_content()
    assert "Result: the run succeeded." in text
    lines = text.splitlines()
    at = lines.index("- review_decisions_apply on identity_review (warning)")
    assert lines[at + 1].startswith("  checks: Every line of the review decisions file was applied")
    assert lines[at + 2] == "  found: decisions_not_applied 1"
    assert "Open each failed check" in text and f"{UI}/runs/{runs.checked.run_id}" in text
    assert "no-such-record" not in text, "no value from the file"


def test_a_clean_run_sends_nothing(runs, receivers):
    _evaluate(runs, runs.clean, receivers.log)
    assert receivers.mail.messages == [] and receivers.webhook.bodies == []
    assert list(receivers.outbox.folder.glob("*.json")) == []


def test_no_message_holds_personal_data(runs, receivers):
    for result in (runs.failed, runs.stopped, runs.checked):
        _evaluate(runs, result, receivers.log)
    sent = _mail_text(receivers.mail) + [json.dumps(b) for b in receivers.webhook.bodies]
    sent += [str(m["Subject"]) for m in receivers.mail.messages]
    assert len(sent) == 9
    text = "\n".join(sent).lower()
    assert runs.personal and len(runs.personal) > PEOPLE
    leaked = sorted(p for p in runs.personal if p in text)
    assert leaked == []
    assert not re.search(r"[\w.+-]+@(?!groundswell\.test)[\w-]+\.[\w.]+", text), "no address"


def test_unreachable_mail_server_and_webhook_keep_the_alert_and_retry(runs, receivers):
    mail, webhook = receivers.mail, receivers.webhook
    mail.stop()  # connection refused
    webhook.status = 500
    _evaluate(runs, runs.failed, receivers.log)  # must not raise
    warnings = receivers.log.warnings()
    assert any("not sent by email: connection refused" in w for w in warnings)
    assert any("not sent by webhook: the webhook answered HTTP 500" in w for w in warnings)
    assert all(Webhook.PATH not in w and "secret-token" not in w for w in receivers.log.lines)
    [waiting] = receivers.outbox.pending()
    assert waiting["run_id"] == runs.failed.run_id
    assert waiting["channels"] == {"email": "pending", "webhook": "pending"}

    # The mail server is back, the webhook still failing: only the email goes.
    mail.start()
    _retry(runs, receivers.log)
    assert len(mail.messages) == 1 and webhook.bodies == []
    [waiting] = receivers.outbox.pending()
    assert waiting["channels"] == {"email": "delivered", "webhook": "pending"}

    # The webhook is back: it gets the message, the email is not sent again.
    webhook.status = 200
    _retry(runs, receivers.log)
    _retry(runs, receivers.log)
    _evaluate(runs, runs.failed, receivers.log)
    assert len(mail.messages) == 1 and len(webhook.bodies) == 1
    assert runs.failed.run_id in webhook.bodies[0]["text"]
    assert receivers.outbox.pending() == []


def test_an_alert_is_given_up_after_three_days_with_a_logged_line(runs, receivers, monkeypatch):
    receivers.mail.stop()
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hook")  # refused
    _evaluate(runs, runs.stopped, receivers.log)
    assert len(receivers.outbox.pending()) == 1
    later = datetime.now(UTC) + timedelta(days=3, hours=1)
    warnings: list[str] = []
    waiting = receivers.outbox.deliver(ServiceSettings(), warnings.append, now=later)
    assert waiting == 0 and receivers.outbox.pending() == []
    assert sum("gave up sending by" in w and "after 3 days" in w for w in warnings) == 2
    assert any("could not connect" in w for w in warnings), "the webhook's reason, not its URL"
    _evaluate(runs, runs.stopped, receivers.log)
    assert receivers.outbox.pending() == [], "a given-up run does not alert again"


def test_smtp_login_when_smtp_user_is_set_and_a_refused_password(runs, receivers, monkeypatch):
    monkeypatch.delenv("ALERT_WEBHOOK_URL")
    secured = MailServer(login=("alerts", "right-password-123"))
    secured.start()
    try:
        monkeypatch.setenv("SMTP_PORT", str(secured.port))
        monkeypatch.setenv("SMTP_USER", "alerts")
        monkeypatch.setenv("SMTP_PASSWORD", "wrong-password-456")
        _evaluate(runs, runs.checked, receivers.log)
        [warning] = receivers.log.warnings()
        assert "not sent by email: the server refused SMTP_USER/SMTP_PASSWORD (SMTP 535)" in warning
        assert "password-456" not in "\n".join(receivers.log.lines)
        assert secured.messages == [] and len(receivers.outbox.pending()) == 1

        monkeypatch.setenv("SMTP_PASSWORD", "right-password-123")
        _retry(runs, receivers.log)
        assert secured.logins == ["alerts"] and len(secured.messages) == 1
        assert "review_decisions_apply" in secured.messages[0]["Subject"]
        assert receivers.outbox.pending() == []
    finally:
        secured.stop()


def test_an_unwritable_outbox_still_sends_the_alert_once(runs, receivers):
    receivers.outbox.folder.parent.mkdir(parents=True, exist_ok=True)
    receivers.outbox.folder.write_text("a file where the outbox folder should be")
    try:
        _evaluate(runs, runs.stopped, receivers.log)  # must not raise
        _retry(runs, receivers.log)
    finally:
        receivers.outbox.folder.unlink()
    [warning] = receivers.log.warnings()
    assert "outbox" in warning and "cannot be written" in warning and "sent once now" in warning
    assert len(receivers.mail.messages) == 1 and len(receivers.webhook.bodies) == 1


def test_no_channel_configured_sends_and_keeps_nothing(runs, receivers, monkeypatch):
    for name in ALERT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    _evaluate(runs, runs.failed, receivers.log)
    assert receivers.mail.messages == [] and receivers.webhook.bodies == []
    assert receivers.outbox.pending() == []


def test_the_daemons_own_tick_alerts_any_error_by_its_type_never_its_message(receivers, tmp_path):
    """The sensor evaluated as the daemon does (its tick, its cursor) on a real run of a
    job whose step raises an error quoting a person's address."""

    @dg.op
    def load_people() -> None:
        raise ValueError("Duplicate key 'ada@example.org' violates primary key")

    @dg.job
    def nightly() -> None:
        load_people()

    repository = dg.Definitions(jobs=[nightly], sensors=ALERT_SENSORS).get_repository_def()
    start = RunStatusSensorCursor(record_id=0, update_timestamp="1970-01-01T00:00:00+00:00")
    instance = dg.DagsterInstance.ephemeral(tempdir=str(tmp_path))
    result = repository.get_job("nightly").execute_in_process(
        instance=instance, raise_on_error=False
    )
    context = dg.build_sensor_context(
        instance=instance, cursor=serialize_value(start), repository_def=repository
    )
    alert_on_run_failure.evaluate_tick(context)
    alert_on_run_failure.evaluate_tick(context)  # the same run: not sent again
    [message] = receivers.mail.messages
    assert message["Subject"] == "Groundswell: nightly failed (step load_people)"
    text = message.get_content()
    assert (
        "- Step load_people: ValueError; the run's log in the Dagster UI has the details." in text
    )
    assert f"{UI}/runs/{result.run_id}" in text
    assert "ada@example.org" not in text + json.dumps(receivers.webhook.bodies)
    assert len(receivers.webhook.bodies) == 1


def test_another_error_is_named_by_its_type_never_its_message():
    leaky = SerializableErrorInfo(
        message="ConstraintException: Duplicate key 'ada@example.org' violates primary key",
        stack=[],
        cls_name="ConstraintException",
    )
    words = failure_words(StepFailureData(error=leaky, user_failure_data=None))
    assert words.startswith("ConstraintException")
    assert "run's log in the Dagster UI has the details" in words
    assert "ada@example.org" not in words and "Duplicate" not in words
    wrapped = SerializableErrorInfo(
        message="dagster wrapper", stack=[], cls_name=DagsterError.__name__, cause=leaky
    )
    assert failure_words(StepFailureData(error=wrapped, user_failure_data=None)) == words


def test_a_file_broken_while_the_service_runs_still_alerts(runs, receivers, tmp_path, monkeypatch):
    """ladder.yaml edited wrong while `make serve` runs: the daemon's code location loads
    refusing definitions instead of failing to load (which would silence every sensor,
    these alerts among them); the nightly job fails at once naming the file, and its alert
    arrives by both channels."""
    from dataclasses import replace

    from pipelines.definitions import defs

    broken = tmp_path / "ladder.yaml"
    broken.write_text((ROOT / "ladder.yaml").read_text() + "\nnot_a_key: 1\n")
    monkeypatch.setenv("LADDER_CONFIG", str(broken))
    loaded = defs()
    sensors = {s.name for s in loaded.sensors or ()}
    assert {s.name for s in ALERT_SENSORS} | {"status_sensor", "dead_runs_sensor"} <= sensors
    assert [s.name for s in loaded.schedules or ()] == ["nightly_sync"]
    refused = loaded.resolve_job_def(JOB).execute_in_process(
        instance=runs.instance, raise_on_error=False
    )
    assert not refused.success
    _evaluate(replace(runs, repository=loaded.get_repository_def()), refused, receivers.log)
    assert len(receivers.mail.messages) == 1 and len(receivers.webhook.bodies) == 1
    text = receivers.mail.messages[0].get_content()
    assert f"{broken}: not_a_key: unknown key" in text
    assert "Fix each setting or file named above" in text
    assert "not_a_key" in receivers.webhook.bodies[0]["text"]
    # Once the file is right again, the whole job is back.
    monkeypatch.setenv("LADDER_CONFIG", str(ROOT / "ladder.yaml"))
    assert len(defs().resolve_job_def(JOB).nodes) > 10
