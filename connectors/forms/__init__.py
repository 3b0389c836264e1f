"""Form exports: every CSV and XLSX dropped in the forms inbox (Google Forms, Typeform,
Jotform, lead ads, sign-in sheets), loaded once by content hash. Nothing is pushed back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from connectors.forms import landing
from connectors.forms.config import load_column_maps
from connectors.forms.settings import FormsSettings
from connectors.platform import Logger, Platform, PlatformSettingError, Source


@dataclass(frozen=True)
class Inbox:
    """The folder exports are dropped in, and the column maps for layouts not recognised."""

    path: Path
    column_maps: dict[str, dict[str, str]]


def connect(_secret: str, settings: Mapping[str, str]) -> Inbox:
    """The inbox; a malformed forms configuration stops the step, named."""
    typed = FormsSettings.of(settings)
    try:
        maps = load_column_maps(typed.FORMS_CONFIG)
    except ValueError as exc:
        raise PlatformSettingError(str(exc)) from None
    return Inbox(Path(typed.FORMS_INBOX), maps)


def _land(
    con: duckdb.DuckDBPyConnection,
    inbox: Inbox,
    run_id: str,
    log: Logger,
    _settings: Mapping[str, str],
) -> dict[str, object]:
    if not inbox.path.is_dir():
        log.info(f"Forms inbox {inbox.path} does not exist; no form exports this run.")
    report = landing.land_form_exports(
        con, inbox.path, run_id, log.info, log.warning, inbox.column_maps
    )
    return report.metadata()


PLATFORM = Platform(
    name="forms",
    title="Form exports",
    connect=connect,
    folder=Path(__file__).parent,
    settings_model=FormsSettings,
    named_in_failures="FORMS_INBOX and FORMS_CONFIG",
    kinds=frozenset({"python", "duckdb", "csv"}),
    sources=(
        Source(
            "form_exports",
            "Every CSV form export in FORMS_INBOX, loaded once by content hash.",
            _land,
            retried=False,
        ),
    ),
)
