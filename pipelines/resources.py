"""Resources: one per declared platform, settings and the warehouse, built from the
environment. Keys arrive as `EnvVar`s so Dagster never shows or stores them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from connectors import registry
from connectors.platform import Platform, PlatformSettingError
from pipelines import settings
from transforms.identity_config import IdentityConfig, load_identity_config
from transforms.ladder_config import Ladder, load
from transforms.teams_config import Teams, load_teams
from warehouse.connection import (
    WarehouseBusyError,
    WarehouseError,
    damaged_message,
    is_damage,
    keep_file_as_is,
    open_database,
    prepare,
)


class PlatformResource(dg.ConfigurableResource):
    """One platform declared in connectors/registry.py: its key (an `EnvVar`, so Dagster
    never shows or stores it) and its other settings."""

    platform: str
    api_key: str = ""
    settings: dict[str, str] = Field(default_factory=dict)

    @property
    def declared(self) -> Platform:
        return registry.platform(self.platform)

    @property
    def configured(self) -> bool:
        """A platform that needs a key is skipped without one."""
        return self.declared.secret is None or bool(self.api_key)

    def client(self) -> Any:
        """The platform's client; a setting it cannot work without fails the step once, not
        retried, naming the setting."""
        try:
            return self.declared.connect(self.api_key, self.settings)
        except PlatformSettingError as exc:
            raise not_retried(str(exc)) from None


class GroundswellSettings(dg.ConfigurableResource):
    """Where files live and how data is read (the forms inbox is the `forms` platform's)."""

    exports_dir: str = settings.DEFAULTS["EXPORTS_DIR"]
    ladder_config: str = settings.DEFAULTS["LADDER_CONFIG"]
    identity_config: str = settings.DEFAULTS["IDENTITY_CONFIG"]
    teams_config: str = settings.DEFAULTS["TEAMS_CONFIG"]
    default_phone_region: str = settings.DEFAULTS["DEFAULT_PHONE_REGION"]

    def ladder(self) -> Ladder:
        return load(self.ladder_config)

    def identity(self) -> IdentityConfig:
        """`identity.yaml` (or IDENTITY_CONFIG); defaults when the file is absent."""
        return load_identity_config(self.identity_config)

    def teams(self) -> Teams:
        """`teams.yaml` (or TEAMS_CONFIG); no teams when the file is absent."""
        return load_teams(self.teams_config)


class DataCheckSettings(dg.ConfigurableResource):
    """The data checks' thresholds (CHECK_* settings): past them a run's input looks broken."""

    fetch_drop_share: float = float(settings.DEFAULTS["CHECK_FETCH_DROP_SHARE"])
    freshness_hours: float = float(settings.DEFAULTS["CHECK_FRESHNESS_HOURS"])
    quarantine_share: float = float(settings.DEFAULTS["CHECK_QUARANTINE_SHARE"])
    people_drop_share: float = float(settings.DEFAULTS["CHECK_PEOPLE_DROP_SHARE"])
    merge_share: float = float(settings.DEFAULTS["CHECK_MERGE_SHARE"])
    rung_change_share: float = float(settings.DEFAULTS["CHECK_RUNG_CHANGE_SHARE"])

    def limits(self) -> dict[str, float]:
        """Each threshold by its setting's name."""
        return {
            f"CHECK_{name.upper()}": float(value)
            for name, value in self.model_dump().items()
            if isinstance(value, int | float)
        }


@contextmanager
def open_warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated connection for one asset, closed when the asset is done, also when it
    fails: the code server is long-lived and must never hold DuckDB's single-writer lock.
    A damaged warehouse or a bad DuckDB setting fails the step once, in words: retrying
    cannot fix either."""
    path = Path(resource.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            # Opened here, not by dagster-duckdb: it retries a damaged file for ~100 s.
            con = open_database(
                path, {"custom_user_agent": "dagster", **resource.connection_config}
            )
            stack.callback(con.close)
            prepare(con, path)
        except WarehouseBusyError as exc:
            raise dg.Failure(description=str(exc), allow_retries=True) from None
        except (WarehouseError, ValueError) as exc:
            raise not_retried(str(exc)) from None
        try:
            yield con
        except duckdb.Error as exc:
            # A damaged block can surface only when a step reads it.
            if is_damage(exc):
                keep_file_as_is(con)
                raise not_retried(damaged_message(path)) from None
            raise


def not_retried(description: str) -> dg.Failure:
    """A step failure that the source assets' RetryPolicy must not repeat."""
    return dg.Failure(description=description, allow_retries=False)


def _secret(name: str) -> str | dg.EnvVar:
    # EnvVar keeps the value out of Dagster's config display; unset means "skip platform".
    return dg.EnvVar(name) if settings.has(name) else ""


def build_resources() -> dict[str, object]:
    """Every resource, read from the environment at definition load."""
    return {
        "warehouse": DuckDBResource(database=settings.get("WAREHOUSE_PATH")),
        **{
            p.name: PlatformResource(
                platform=p.name,
                api_key=_secret(p.secret) if p.secret else "",
                settings={name: settings.get(name) for name in p.settings},
            )
            for p in registry.PLATFORMS
        },
        "groundswell": GroundswellSettings(
            exports_dir=settings.get("EXPORTS_DIR"),
            ladder_config=settings.get("LADDER_CONFIG"),
            identity_config=settings.get("IDENTITY_CONFIG"),
            teams_config=settings.get("TEAMS_CONFIG"),
            default_phone_region=settings.get("DEFAULT_PHONE_REGION"),
        ),
        "checks": DataCheckSettings(
            **{
                field: float(settings.get(f"CHECK_{field.upper()}"))
                for field in DataCheckSettings.model_fields
            }
        ),
    }
