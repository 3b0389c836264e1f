"""Settings are checked before anything runs: every bad one is named, with what to do, in
one message, before any request or any file is touched."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from pipelines import settings
from pipelines.settings import SettingsError
from sandbox import start_sandbox
from warehouse.connection import connect

ROOT = Path(__file__).resolve().parents[2]
# Every setting validate() reads, cleared so the shell's own settings cannot leak in.
NAMES = (
    *settings.DEFAULTS,
    *settings.PLATFORM_KEYS,
    "MAILCHIMP_LIST_ID",
    "MAILCHIMP_BASE_URL",
    "DUCKDB_MEMORY_LIMIT",
    "NIGHTLY_SCHEDULE",
    "SCHEDULE_TIMEZONE",
    "SANDBOX_AN_RATE",
    "DAGSTER_HOME",
)
NO_SUFFIX_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder with the default layout under data/ and the shipped configuration."""
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LADDER_CONFIG", str(ROOT / "ladder.yaml"))
    monkeypatch.setenv("IDENTITY_CONFIG", str(ROOT / "identity.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster"))
    return tmp_path


def _problems(monkeypatch, **env: str) -> list[str]:
    """The lines of the SettingsError raised with these settings."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        settings.validate()
    first, *lines = str(raised.value).splitlines()
    assert "settings are fixed" in first
    assert all(line.startswith("- ") for line in lines), "one problem a line"
    return lines


def test_the_default_layout_is_accepted(project):
    settings.validate()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"MAILCHIMP_MAX_CONNECTIONS": "eight"},
            "MAILCHIMP_MAX_CONNECTIONS='eight' is not a whole",
        ),
        ({"MAILCHIMP_MAX_CONNECTIONS": "40"}, "MAILCHIMP_MAX_CONNECTIONS=40 is out of range"),
        ({"MAILCHIMP_ACTIVITY_DAYS": "a month"}, "MAILCHIMP_ACTIVITY_DAYS='a month'"),
        ({"MAILCHIMP_RECONCILE_DAYS": "nan"}, "MAILCHIMP_RECONCILE_DAYS='nan' is not a number"),
        ({"ACTION_NETWORK_RATE": "-1"}, "ACTION_NETWORK_RATE=-1 is out of range"),
        ({"SANDBOX_PEOPLE": "lots"}, "SANDBOX_PEOPLE='lots'"),
        ({"DUCKDB_MEMORY_LIMIT": "banana"}, "DUCKDB_MEMORY_LIMIT='banana' is not a memory size"),
        ({"DUCKDB_MEMORY_LIMIT": "512MB"}, "DUCKDB_MEMORY_LIMIT='512MB' is less than"),
        ({"SANDBOX": "maybe"}, "SANDBOX='maybe' is not auto, on or off"),
        ({"NIGHTLY_SCHEDULE": "sometimes"}, "NIGHTLY_SCHEDULE='sometimes' is not on or off"),
        ({"SCHEDULE_TIMEZONE": "Mars/Olympus"}, "SCHEDULE_TIMEZONE='Mars/Olympus'"),
        ({"DEFAULT_PHONE_REGION": "Narnia"}, "DEFAULT_PHONE_REGION='Narnia'"),
        ({"ACTION_NETWORK_BASE_URL": "actionnetwork.org"}, "ACTION_NETWORK_BASE_URL is not a web"),
        (
            {"MAILCHIMP_BASE_URL": "http://us6.api.mailchimp.com/3.0"},
            "MAILCHIMP_BASE_URL uses http",
        ),
        ({"WAREHOUSE_PATH": "data"}, "WAREHOUSE_PATH=data is a folder"),
        ({"NIGHTLY_CRON": "every night"}, "NIGHTLY_CRON='every night' is not a cron schedule"),
        ({"DAGSTER_PORT": "0"}, "DAGSTER_PORT=0 is out of range"),
        ({"LOG_MAX_MB": "big"}, "LOG_MAX_MB='big' is not a whole number"),
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY='tls' is not starttls, ssl or off"),
        ({"DAGSTER_UI_URL": "dagster.local"}, "DAGSTER_UI_URL is not a web address"),
        ({"CHECK_MERGE_SHARE": "5%"}, "CHECK_MERGE_SHARE='5%' is not a number"),
        ({"CHECK_PEOPLE_DROP_SHARE": "2"}, "CHECK_PEOPLE_DROP_SHARE=2 is out of range"),
        ({"CHECK_FRESHNESS_HOURS": "0"}, "CHECK_FRESHNESS_HOURS=0 is out of range"),
        ({"BACKUP_KEEP_DAILY": "0"}, "BACKUP_KEEP_DAILY=0 is out of range"),
        ({"BACKUP_KEEP_WEEKLY": "many"}, "BACKUP_KEEP_WEEKLY='many' is not a whole number"),
    ],
)
def test_a_bad_value_is_named_with_what_to_do(project, monkeypatch, env, named):
    if env.get("WAREHOUSE_PATH") == "data":
        (project / "data").mkdir()
    lines = _problems(monkeypatch, **env)
    assert len(lines) == 1 and named in lines[0], lines


def test_a_mailchimp_key_without_its_data_centre_is_named_never_shown(project, monkeypatch):
    lines = _problems(
        monkeypatch, MAILCHIMP_API_KEY=NO_SUFFIX_KEY, MAILCHIMP_LIST_ID="abc123", SANDBOX="off"
    )
    assert len(lines) == 1 and "MAILCHIMP_API_KEY has no data-centre suffix" in lines[0]
    assert "MAILCHIMP_BASE_URL" in lines[0], "says the other way out"
    assert NO_SUFFIX_KEY not in lines[0]
    # With an explicit base URL the key needs no suffix.
    monkeypatch.setenv("MAILCHIMP_BASE_URL", "https://us6.api.mailchimp.com/3.0")
    settings.validate()


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("DAGSTER_POSTGRES_URL", "postgres://gs:s3cret-pw@db:5432/gs", "not a PostgreSQL address"),
        ("DAGSTER_POSTGRES_URL", "mysql://gs:s3cret-pw@db/gs", "not a PostgreSQL address"),
        ("ALERT_WEBHOOK_URL", "http://hooks.example.org/s3cret-pw", "its token unencrypted"),
        ("ALERT_WEBHOOK_URL", "hooks.example.org/s3cret-pw", "is not a web address"),
    ],
)
def test_a_secret_address_is_named_never_shown(project, monkeypatch, name, value, named):
    lines = _problems(monkeypatch, **{name: value})
    assert len(lines) == 1 and named in lines[0] and name in lines[0], lines
    assert "s3cret-pw" not in lines[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ALERT_EMAIL_TO": "ops@example.org"}, "ALERT_EMAIL_TO is set without SMTP_HOST"),
        ({"SMTP_HOST": "mail.example.org"}, "SMTP_HOST is set without ALERT_EMAIL_TO"),
        (
            {"SMTP_HOST": "m.example.org", "ALERT_EMAIL_TO": "o@example.org", "SMTP_USER": "gs"},
            "SMTP_USER is set without SMTP_PASSWORD",
        ),
    ],
)
def test_alert_email_settings_are_checked_together(project, monkeypatch, env, named):
    lines = _problems(monkeypatch, **env)
    assert len(lines) == 1 and named in lines[0], lines


def test_a_mailchimp_key_without_a_list_id_is_named(project, monkeypatch):
    lines = _problems(monkeypatch, MAILCHIMP_API_KEY=NO_SUFFIX_KEY + "-us6")
    assert len(lines) == 1 and "MAILCHIMP_LIST_ID is not set" in lines[0]


def test_every_problem_is_listed_one_per_line(project, monkeypatch):
    lines = _problems(
        monkeypatch,
        MAILCHIMP_MAX_CONNECTIONS="eight",
        DUCKDB_MEMORY_LIMIT="banana",
        SANDBOX="sometimes",
    )
    assert len(lines) == 3
    assert [line.split("=")[0][2:] for line in lines] == [
        "MAILCHIMP_MAX_CONNECTIONS",
        "SANDBOX",
        "DUCKDB_MEMORY_LIMIT",
    ]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"EXPORTS_DIR": "data"},
            "EXPORTS_DIR=data holds WAREHOUSE_PATH=data/warehouse.duckdb, "
            "PORTAL_SNAPSHOT=data/portal/snapshot.duckdb, PORTAL_DB=data/portal/portal.db, "
            "FORMS_INBOX=data/inbox, BACKUP_DIR=data/backups and DAGSTER_HOME=",
        ),
        (
            {"PORTAL_SNAPSHOT": "data/exports/snapshot.duckdb"},
            "EXPORTS_DIR=data/exports holds PORTAL_SNAPSHOT=data/exports/snapshot.duckdb",
        ),
        (
            {"PORTAL_SNAPSHOT": "data/warehouse.duckdb"},
            "PORTAL_SNAPSHOT=data/warehouse.duckdb is the same file as WAREHOUSE_PATH",
        ),
        ({"BACKUP_DIR": "data/inbox"}, "is the same place as"),
        ({"FORMS_INBOX": "data/exports/in"}, "EXPORTS_DIR=data/exports holds FORMS_INBOX"),
        ({"WAREHOUSE_PATH": "data/backups/w.duckdb"}, "BACKUP_DIR=data/backups holds WAREHOUSE"),
        ({"EXPORTS_DIR": "."}, "EXPORTS_DIR=. holds WAREHOUSE_PATH"),
        ({"EXPORTS_DIR": "data/dagster/exports"}, "DAGSTER_HOME="),
    ],
)
def test_folders_that_hold_each_other_are_refused(project, monkeypatch, env, named):
    lines = _problems(monkeypatch, **env)
    assert len(lines) == 1 and named in lines[0], lines


def test_a_folder_holding_the_project_or_its_configuration_is_refused(project, monkeypatch):
    monkeypatch.setenv("LADDER_CONFIG", str(project / "config" / "ladder.yaml"))
    (project / "config").mkdir()
    (project / "config" / "ladder.yaml").write_text((ROOT / "ladder.yaml").read_text())
    assert "holds a configuration file" in _problems(monkeypatch, EXPORTS_DIR="config")[0]
    # The data kept outside the project, and EXPORTS_DIR set to the project itself.
    outside = project.parent / f"{project.name}-data"
    places = ("WAREHOUSE_PATH", "PORTAL_SNAPSHOT", "PORTAL_DB", "FORMS_INBOX", "BACKUP_DIR")
    for name in (*places, "DAGSTER_HOME"):
        monkeypatch.setenv(name, str(outside / name.lower()))
    monkeypatch.setenv("LADDER_CONFIG", str(ROOT / "ladder.yaml"))
    line = _problems(monkeypatch, EXPORTS_DIR=str(project))[0]
    assert "is the project folder or holds it" in line


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "probabilistic:\n  link_threshold: high\n",
            "probabilistic.link_threshold: must be a number between 0 and 1",
        ),
        ("source_priority: forms\n", "source_priority: must be a list of source names"),
        ("probabilistic:\n  enabled: maybe\n", "probabilistic.enabled: must be true or false"),
        ("review:\n  decisions_file: [a, b]\n", "review.decisions_file: must be a file path"),
    ],
)
def test_identity_yaml_mistakes_are_named(project, monkeypatch, text, named):
    path = project / "identity.yaml"
    path.write_text(text)
    lines = _problems(monkeypatch, IDENTITY_CONFIG=str(path))
    assert len(lines) == 1 and named in lines[0] and str(path) in lines[0], lines
    assert "f, o, r, m, s" not in lines[0]


def test_unreadable_configuration_files_are_named(project, monkeypatch):
    ladder = project / "ladder.yaml"
    ladder.write_bytes(b"\xff\xfe\x00\x01binary")
    forms = project / "forms.yaml"
    forms.write_text("column_maps: [not, a, mapping]\n")
    lines = _problems(monkeypatch, LADDER_CONFIG=str(ladder), FORMS_CONFIG=str(forms))
    assert len(lines) == 2
    assert f"{ladder}: not UTF-8 text; save it as UTF-8" in lines[0]
    assert str(forms) in lines[1] and "column_maps" in lines[1]


def test_build_definitions_refuses_bad_settings(project, monkeypatch):
    import pipelines.definitions as definitions

    monkeypatch.setenv("MAILCHIMP_MAX_CONNECTIONS", "eight")
    with pytest.raises(SettingsError, match="MAILCHIMP_MAX_CONNECTIONS"):
        definitions.build_definitions()


@pytest.fixture(scope="module")
def platforms(tmp_path_factory):
    with start_sandbox(people=200, seed=5, an_rate=0) as running:
        yield running


def _requests(running) -> int:
    """How many requests both simulators have answered."""
    total = 0
    for variable, suffix in (
        ("ACTION_NETWORK_BASE_URL", "/api/v2"),
        ("MAILCHIMP_BASE_URL", "/3.0"),
    ):
        base = running.env[variable].rsplit(suffix, 1)[0]
        total += sum(requests.get(base + "/_sandbox/stats", timeout=5).json()["requests"].values())
    return total


def _run_cli(workdir: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    clean = {k: v for k, v in os.environ.items() if k not in NAMES}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "run"],
        cwd=workdir,
        env={
            **clean,
            "SANDBOX": "off",
            "LADDER_CONFIG": str(ROOT / "ladder.yaml"),
            "IDENTITY_CONFIG": str(ROOT / "identity.yaml"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, time.monotonic() - started


def _good_warehouse(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    con.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    con.close()
    return path.read_bytes()


def test_make_run_refuses_bad_settings_before_any_request(platforms, tmp_path):
    """The issue's case: a key without -usN, DUCKDB_MEMORY_LIMIT=banana and
    MAILCHIMP_MAX_CONNECTIONS=eight were retried for minutes or ended in tracebacks."""
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    before = _good_warehouse(warehouse)
    asked = _requests(platforms)
    env = {
        "ACTION_NETWORK_API_KEY": platforms.env["ACTION_NETWORK_API_KEY"],
        "ACTION_NETWORK_BASE_URL": platforms.env["ACTION_NETWORK_BASE_URL"],
        "ACTION_NETWORK_RATE": "0",
        "MAILCHIMP_API_KEY": NO_SUFFIX_KEY,
        "MAILCHIMP_LIST_ID": platforms.env["MAILCHIMP_LIST_ID"],
        "DUCKDB_MEMORY_LIMIT": "banana",
        "MAILCHIMP_MAX_CONNECTIONS": "eight",
    }
    result, seconds = _run_cli(tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for named in ("MAILCHIMP_API_KEY has no data-centre", "DUCKDB_MEMORY_LIMIT", "'eight'"):
        assert named in output, output[-3000:]
    assert NO_SUFFIX_KEY not in output and platforms.env["ACTION_NETWORK_API_KEY"] not in output
    assert "Exceeded max_retries" not in output
    assert seconds < 60, "refused at start-up, not after retries"
    assert _requests(platforms) == asked, "no request reached either platform"
    assert warehouse.read_bytes() == before


def test_exports_dir_holding_the_warehouse_deletes_nothing(tmp_path):
    """EXPORTS_DIR=data used to delete the warehouse, the run history and the inbox."""
    data = tmp_path / "data"
    before = _good_warehouse(data / "warehouse.duckdb")
    (data / "inbox").mkdir()
    (data / "inbox" / "signups.csv").write_text("First name,Email\n")
    (data / "dagster").mkdir()
    (data / "dagster" / "history.db").write_text("runs")
    result, seconds = _run_cli(
        tmp_path, {"EXPORTS_DIR": "data", "DAGSTER_HOME": str(data / "dagster")}
    )
    assert result.returncode != 0
    assert "EXPORTS_DIR=data holds WAREHOUSE_PATH=data/warehouse.duckdb" in result.stderr
    assert seconds < 60
    assert (data / "warehouse.duckdb").read_bytes() == before
    assert (data / "inbox" / "signups.csv").is_file()
    assert (data / "dagster" / "history.db").is_file()


def test_the_shell_and_the_sandbox_win_over_dotenv_in_the_processes_dagster_starts(
    tmp_path, monkeypatch
):
    """Dagster's webserver, daemon and code servers load `.env` over the environment they
    inherit; what the shell set (or the sandbox started) must still win in them, and what
    only `.env` sets must still be read."""
    from dotenv import dotenv_values

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EXPORTS_DIR=from-dotenv\nMAILCHIMP_API_KEY=\nLOG_KEEP=7\n")
    # A copy of the environment: pinning and .env write to it, and it goes with the test.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    os.environ["EXPORTS_DIR"] = "from-shell"
    for name in ("MAILCHIMP_API_KEY", "LOG_KEEP", settings.PINNED_ENV):
        os.environ.pop(name, None)
    settings.pin_shell()
    settings.load_env()
    settings.pin({"MAILCHIMP_API_KEY": "sandbox-key-us1"})
    # A child as Dagster starts it: .env's values put over what it inherited.
    child_env = {**os.environ, **{k: v for k, v in dotenv_values(".env").items() if v is not None}}
    read = (
        "import json, os; from pipelines import settings; settings.load_env(); "
        "print(json.dumps([os.environ[n] for n in ('EXPORTS_DIR', 'MAILCHIMP_API_KEY', "
        "'LOG_KEEP')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", read],
        cwd=tmp_path,
        env={**child_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == '["from-shell", "sandbox-key-us1", "7"]'
