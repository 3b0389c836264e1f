"""Resources: platform clients and settings built from the environment. Keys arrive as
`EnvVar`s so Dagster never shows or stores them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster_duckdb import DuckDBResource

from connectors.action_network import DEFAULT_BASE_URL as AN_BASE_URL
from connectors.action_network import ActionNetworkClient
from connectors.errors import PlatformError
from connectors.forms import FORM_FIELDS
from connectors.mailchimp import MailchimpClient, base_url_for_key
from pipelines import settings
from transforms.identity_config import IdentityConfig, load_identity_config
from transforms.ladder_config import Ladder, load
from warehouse.connection import (
    WarehouseBusyError,
    WarehouseError,
    damaged_message,
    is_damage,
    keep_file_as_is,
    open_database,
    prepare,
)


class ActionNetworkResource(dg.ConfigurableResource):
    """One Action Network group, reached with its API key."""

    api_key: str = ""
    base_url: str = AN_BASE_URL
    requests_per_second: float = 4.0

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def client(self) -> ActionNetworkClient:
        return ActionNetworkClient(
            self.api_key, self.base_url, requests_per_second=self.requests_per_second
        )


class MailchimpResource(dg.ConfigurableResource):
    """One Mailchimp audience. The base URL defaults to the key's data centre."""

    api_key: str = ""
    list_id: str = ""
    base_url: str = ""
    max_connections: int = 8
    activity_days: int = 30
    reconcile_days: float = 7.0

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def client(self) -> MailchimpClient:
        """The client; a key without its data centre fails the step once, not retried."""
        if not self.base_url:
            try:
                base_url_for_key(self.api_key)
            except PlatformError as exc:
                raise not_retried(f"{exc} (MAILCHIMP_API_KEY, MAILCHIMP_BASE_URL)") from None
        return MailchimpClient(
            self.api_key,
            self.list_id,
            self.base_url or None,
            max_connections=self.max_connections,
        )


class GroundswellSettings(dg.ConfigurableResource):
    """Where files live and how data is read."""

    forms_inbox: str = settings.DEFAULTS["FORMS_INBOX"]
    exports_dir: str = settings.DEFAULTS["EXPORTS_DIR"]
    ladder_config: str = settings.DEFAULTS["LADDER_CONFIG"]
    forms_config: str = settings.DEFAULTS["FORMS_CONFIG"]
    identity_config: str = settings.DEFAULTS["IDENTITY_CONFIG"]
    default_phone_region: str = settings.DEFAULTS["DEFAULT_PHONE_REGION"]

    def ladder(self) -> Ladder:
        return load(self.ladder_config)

    def identity(self) -> IdentityConfig:
        """`identity.yaml` (or IDENTITY_CONFIG); defaults when the file is absent."""
        return load_identity_config(self.identity_config)

    def column_maps(self) -> dict[str, dict[str, str]]:
        """`column_maps` from the forms configuration: file-name pattern -> {field: header}.
        The file is optional; a malformed one is an error naming what to fix."""
        path = Path(self.forms_config)
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from None
        maps = data.get("column_maps") or {}
        if not isinstance(maps, dict) or not all(
            isinstance(m, dict) and all(isinstance(v, str) for v in m.values())
            for m in maps.values()
        ):
            raise ValueError(
                f"{path}: 'column_maps' must map a file name pattern to {{field: column header}}"
            )
        # Before consent was read per channel, one `consent` field meant email consent.
        maps = {
            k: {("consent_email" if f == "consent" else f): h for f, h in m.items()}
            for k, m in maps.items()
        }
        unknown = {f for m in maps.values() for f in m} - set(FORM_FIELDS)
        if unknown:
            raise ValueError(
                f"{path}: unknown field(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(FORM_FIELDS)}"
            )
        return {str(k): dict(v) for k, v in maps.items()}


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
        "action_network": ActionNetworkResource(
            api_key=_secret("ACTION_NETWORK_API_KEY"),
            base_url=settings.get("ACTION_NETWORK_BASE_URL"),
            requests_per_second=float(settings.get("ACTION_NETWORK_RATE")),
        ),
        "mailchimp": MailchimpResource(
            api_key=_secret("MAILCHIMP_API_KEY"),
            list_id=settings.get("MAILCHIMP_LIST_ID"),
            base_url=settings.get("MAILCHIMP_BASE_URL"),
            max_connections=int(settings.get("MAILCHIMP_MAX_CONNECTIONS")),
            activity_days=int(settings.get("MAILCHIMP_ACTIVITY_DAYS")),
            reconcile_days=float(settings.get("MAILCHIMP_RECONCILE_DAYS")),
        ),
        "groundswell": GroundswellSettings(
            forms_inbox=settings.get("FORMS_INBOX"),
            exports_dir=settings.get("EXPORTS_DIR"),
            ladder_config=settings.get("LADDER_CONFIG"),
            forms_config=settings.get("FORMS_CONFIG"),
            identity_config=settings.get("IDENTITY_CONFIG"),
            default_phone_region=settings.get("DEFAULT_PHONE_REGION"),
        ),
    }
