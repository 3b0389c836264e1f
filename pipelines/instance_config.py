"""The Dagster instance's configuration: $DAGSTER_HOME/dagster.yaml made from the repo's
dagster.yaml, with Dagster's history (runs, event logs, schedules) in PostgreSQL when
DAGSTER_POSTGRES_URL is set, and a quick check that the database answers before anything
starts (so a stopped server gives one clear message, not a long traceback)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

SETTING = "DAGSTER_POSTGRES_URL"
CONNECT_TIMEOUT_SECONDS = 5
# What dagster-postgres connects with: SQLAlchemy 2.0 and psycopg2 (pyproject.toml pins
# SQLAlchemy below 2.1, whose postgresql:// means psycopg 3, which dagster-postgres's
# NOTIFY statements fail on).
DRIVERS = ("postgresql", "postgresql+psycopg2")
HEADER = (
    "# Written by Groundswell from the repo's dagster.yaml each time a command opens the\n"
    "# instance (pipelines/instance_config.py): edit that file, not this copy.\n"
)
# Dagster's documented block for keeping runs, event logs and schedules in one PostgreSQL
# database; the address (it holds a password) is read from the environment, never stored.
POSTGRES_STORAGE = f"""
# {SETTING} is set: Dagster's runs, event logs and schedules are kept in PostgreSQL.
storage:
  postgres:
    postgres_url:
      env: {SETTING}
"""


class PostgresUnreachable(ValueError):
    """DAGSTER_POSTGRES_URL is set and its database does not answer; the message says what
    to check, and never holds the address's password."""


def instance_yaml(template: str, postgres: bool) -> str:
    """The instance's dagster.yaml: the repo's template, plus the PostgreSQL storage block
    when `postgres`."""
    if not postgres:
        return HEADER + template
    if "storage" in (yaml.safe_load(template) or {}):
        raise ValueError(
            f"dagster.yaml sets `storage:` itself, and {SETTING} is set: remove the "
            f"`storage:` block from dagster.yaml ({SETTING} chooses where the history goes)."
        )
    return HEADER + template.rstrip("\n") + "\n" + POSTGRES_STORAGE


def write_if_changed(path: Path, text: str) -> bool:
    """Replace `path` with `text` in one step (a reader never sees half a file) when it
    differs; whether it was written."""
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return True


def where(url: str) -> str:
    """host:port/database of a PostgreSQL address: what a message may show (no user name,
    no password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "an address that cannot be read"
    database = parts.path.lstrip("/")
    return f"{host}:{port}" + (f"/{database}" if database else "")


# What libpq says, in the operator's words (its own text can name the user).
_REASONS = (
    (r"connection refused", "nothing accepted the connection there (connection refused)"),
    (r"timeout expired|timed out", "no answer within {timeout} s"),
    (r"could not translate host name|name or service not known", "the host name is unknown"),
    (r"database \".*\" does not exist", "the database does not exist"),
    (r"role \".*\" does not exist", "the user does not exist"),
    (
        r"password authentication failed|no password supplied|authentication failed",
        "the user name or password was not accepted",
    ),
    (r"no pg_hba\.conf entry", "the server does not allow this connection (pg_hba.conf)"),
    (r"invalid dsn|invalid connection option|missing \"=\"", "the address cannot be read"),
    (r"too many connections|the database system is starting up", "the server is busy"),
)


def _reason(error: Exception, timeout: int) -> str:
    text = str(error).lower()
    words = next((w for pattern, w in _REASONS if re.search(pattern, text)), None)
    return (words or "the connection failed").format(timeout=timeout)


def _sqlalchemy_version() -> tuple[int, ...]:
    import sqlalchemy

    return tuple(int(part) for part in re.findall(r"\d+", sqlalchemy.__version__)[:2])


def check_postgres(url: str, timeout: int = CONNECT_TIMEOUT_SECONDS) -> None:
    """Connect once, as Dagster will (psycopg2), waiting at most `timeout` seconds;
    ValueError for an address Dagster cannot use, PostgresUnreachable if it does not answer."""
    import psycopg2

    scheme, _, rest = url.partition("://")
    if scheme not in DRIVERS:
        # SQLAlchemy, which Dagster connects through, does not read postgres://.
        raise ValueError(
            f"{SETTING} must start with postgresql:// (Dagster does not read {scheme}://), "
            "like postgresql://groundswell:PASSWORD@localhost:5432/groundswell."
        )
    if scheme == "postgresql" and _sqlalchemy_version() >= (2, 1):
        raise ValueError(
            f"{SETTING}: SQLAlchemy 2.1 and later read postgresql:// as the psycopg 3 "
            "driver, which Dagster's PostgreSQL storage does not work with: run `make setup` "
            "(pyproject.toml keeps SQLAlchemy below 2.1), or start the address with "
            "postgresql+psycopg2:// instead."
        )
    timeout = max(timeout, 2)  # libpq's least: it reads 1 s as 2
    try:
        connection = psycopg2.connect(f"postgresql://{rest}", connect_timeout=timeout)
    except psycopg2.Error as exc:
        raise PostgresUnreachable(
            f"Dagster's history could not be opened in PostgreSQL at {where(url)}, the "
            f"database {SETTING} names: {_reason(exc, timeout)}. Check that the PostgreSQL "
            "server is running and reachable from this machine (on Debian: systemctl status "
            "postgresql), that the database exists (createdb), and that the user and "
            f"password in {SETTING} are right; or leave {SETTING} unset to keep the history "
            "in SQLite under DAGSTER_HOME. Nothing was run."
        ) from None
    connection.close()
