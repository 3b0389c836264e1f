"""What a platform declares to take part in Groundswell: how to connect with its settings,
the sources it lands, the SQL that stages its records and maps its activities, and, when it
can be written to, how a plan is pushed and how an interrupted push is settled. The Dagster
assets, resources and the staging step are built from these declarations
(`connectors/registry.py` lists them), so a platform is one folder and one line there."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd

from warehouse import platform_sql
from warehouse.env_settings import EnvSettings


class Logger(Protocol):
    """Where progress goes: Dagster's step log, or any `logging.Logger`."""

    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


class PlatformSettingError(ValueError):
    """A setting the platform cannot work without is missing or wrong; retrying cannot help.
    The message names the setting and what to set it to."""


# (connection, client, run id, log, the platform's settings) -> counts landed (never people)
Land = Callable[[duckdb.DuckDBPyConnection, Any, str, Logger, Mapping[str, str]], dict[str, object]]
# (connection, client, the plan's operations, the ladder's sync settings, run id, log) -> report
Send = Callable[[duckdb.DuckDBPyConnection, Any, pd.DataFrame, Any, str, Callable], Any]
# (connection, client, run id, log) -> report of the writes settled from the platform's state
Settle = Callable[[duckdb.DuckDBPyConnection, Any, str, Callable], Any]


@dataclass(frozen=True)
class Source:
    """One landing: a Dagster asset of its own in the `sources` group."""

    asset: str
    description: str
    land: Land
    retried: bool = True  # whole-step retries for outages (a platform API, not a folder)


@dataclass(frozen=True)
class Push:
    """How the sync plan's operations for this destination are sent and settled."""

    description: str
    send: Send
    settle: Settle


@dataclass(frozen=True)
class Platform:
    """One platform: its name is the `source` of its records and the `destination` of its
    pushes in the warehouse."""

    name: str
    title: str
    connect: Callable[[str, Mapping[str, str]], Any]  # (secret, settings) -> client
    sources: tuple[Source, ...]
    folder: Path
    settings_model: type[EnvSettings]  # its settings, each with its default and its check
    secret: str | None = None  # the setting holding its key; None: it needs none
    named_in_failures: str = ""  # the settings a failure tells the volunteer to check
    kinds: frozenset[str] = field(default_factory=frozenset)  # Dagster kind tags
    push: Push | None = None

    @property
    def settings(self) -> tuple[str, ...]:
        """The names of its settings other than its key, given to connect and land."""
        return tuple(n for n in self.settings_model.model_fields if n != self.secret)

    def sql_files(self) -> dict[str, Path]:
        """Its SQL by role (warehouse/platform_sql.py ROLES): `<role>.sql` in its folder;
        staging is required, the others only when it has them."""
        found = {role: self.folder / f"{role}.sql" for role in platform_sql.ROLES}
        for role in platform_sql.REQUIRED:
            if not found[role].is_file():
                raise FileNotFoundError(f"{found[role]}: platform {self.name} has no {role} SQL")
        return {role: path for role, path in found.items() if path.is_file()}
