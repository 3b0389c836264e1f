"""The service's settings: how `make serve` listens and logs, where Dagster keeps its
history (SQLite under DAGSTER_HOME, or PostgreSQL), when the nightly run starts, and where
alerts go. The data checks' thresholds are with the checks (transforms/settings.py) and
the backups' retention with the warehouse (warehouse/settings.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field

from connectors.setting_checks import base_url
from warehouse.env_settings import Check, EnvSettings, choice, given, number

SWITCHES = ("on", "off", "true", "false", "1", "0")
SMTP_SECURITY = ("starttls", "ssl", "off")


def cron_ok(text: str) -> bool:
    """Whether Dagster reads `text` as a cron schedule."""
    from dagster._utils.schedules import is_valid_cron_string  # Dagster's own reading

    return is_valid_cron_string(text)


def _postgres_url(name: str, text: str, _default: str) -> str | None:
    try:
        parts = urlsplit(text)
        # Dagster reads postgresql:// (psycopg2); postgres:// is not understood.
        ok = parts.scheme in ("postgresql", "postgresql+psycopg2") and bool(
            parts.hostname or parts.path
        )
    except ValueError:
        ok = False
    if not ok:
        return (
            f"{name} is not a PostgreSQL address: use one like "
            "postgresql://groundswell:PASSWORD@localhost:5432/groundswell."
        )
    return None


class ServiceSettings(EnvSettings):
    """`make serve`: the Dagster webserver and daemon, the portal, alerts."""

    # The Dagster UI has no sign-in of its own: keep it on loopback behind an HTTPS proxy.
    DAGSTER_HOST: str = "127.0.0.1"
    DAGSTER_PORT: Annotated[int, number("the Dagster UI's port, 1-65535", 1, 65_535)] = 3000
    # The address the Dagster UI is reached at; alerts link a run as <it>/runs/<run id>.
    DAGSTER_UI_URL: Annotated[str, base_url("https://dagster.example.org", secret=None)] = (
        "http://127.0.0.1:3000"
    )
    # Set: Dagster's runs, event logs and schedules go to this PostgreSQL database.
    DAGSTER_POSTGRES_URL: Annotated[str, Check(_postgres_url, rank=2), Field(repr=False)] = ""
    NIGHTLY_CRON: Annotated[
        str,
        choice(
            cron_ok,
            lambda name, text: (
                f"{name}={text!r} is not a cron schedule: five fields, minute hour day "
                "month weekday, such as 0 2 * * * for 02:00 every day."
            ),
        ),
    ] = "0 2 * * *"
    LOG_DIR: str = "data/logs"
    LOG_MAX_MB: Annotated[
        int, number("megabytes a log file grows to before it rotates", 1, 10_000)
    ] = 10
    LOG_KEEP: Annotated[int, number("rotated log files kept per process", 1, 100)] = 5
    # Alerts: a Slack-compatible incoming webhook and/or email.
    ALERT_WEBHOOK_URL: Annotated[
        str, base_url("https://hooks.slack.com/services/...", secret="its token"), Field(repr=False)
    ] = ""
    ALERT_EMAIL_TO: str = ""  # one address, or several separated by commas
    ALERT_EMAIL_FROM: str = "groundswell@localhost"
    SMTP_HOST: str = ""
    SMTP_PORT: Annotated[int, number("the SMTP server's port, 1-65535", 1, 65_535)] = 587
    SMTP_USER: str = ""
    SMTP_PASSWORD: Annotated[str, Field(repr=False)] = ""
    SMTP_SECURITY: Annotated[
        str,
        choice(
            lambda text: text.lower() in SMTP_SECURITY,
            lambda name, text: (
                f"{name}={text!r} is not starttls, ssl or off: starttls for port 587, "
                "ssl for 465, off only for a server on this machine."
            ),
        ),
    ] = "starttls"

    @classmethod
    def joint_problems(cls) -> Iterator[str]:
        if given("ALERT_EMAIL_TO") and not given("SMTP_HOST"):
            yield "ALERT_EMAIL_TO is set without SMTP_HOST: give the mail server alerts go through."
        if given("SMTP_HOST") and not given("ALERT_EMAIL_TO"):
            yield "SMTP_HOST is set without ALERT_EMAIL_TO: give the address alerts go to."
        if given("SMTP_USER") and not given("SMTP_PASSWORD"):
            yield "SMTP_USER is set without SMTP_PASSWORD: give both, or neither."

    @property
    def email_alerts(self) -> bool:
        """Whether alerts go by email."""
        return bool(self.SMTP_HOST and self.ALERT_EMAIL_TO)
