"""Configuration from the environment (a `.env` file is read if present, never overriding
the shell). The names are a contract: see DESIGN.md and `.env.example`.

Each layer's settings live beside its code, as pydantic-settings models holding each
default and each check (warehouse/settings.py, transforms/settings.py,
connectors/<platform>/settings.py); the run's own are here. This module composes them:
`get`/`has`/`DEFAULTS` for any setting by name, `validate` before anything runs."""

from __future__ import annotations

import itertools
import json
import os
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from dotenv import dotenv_values, load_dotenv

from connectors.registry import PLATFORMS
from pipelines.service_settings import ServiceSettings
from portal.settings import PortalSettings
from transforms.settings import TransformSettings
from warehouse.env_settings import EnvSettings, choice, given, number
from warehouse.settings import WarehouseSettings

SWITCHES = ("on", "off", "true", "false", "1", "0")


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


class RunSettings(EnvSettings):
    """How runs start: the sandbox platforms, the nightly schedule, waiting for a slot."""

    # auto: the sandbox platforms when no platform key is set; off: never; on: always.
    SANDBOX: Annotated[
        str,
        choice(
            lambda text: text.lower() in ("auto", "on", "off"),
            lambda name, text: (
                f"{name}={text!r} is not auto, on or off: auto uses the "
                "sandbox platforms when no platform key is set."
            ),
        ),
    ] = "auto"
    SANDBOX_PEOPLE: Annotated[
        int, number("how many people the sandbox organisation has", 1, 10_000_000)
    ] = 5000
    SANDBOX_SEED: Annotated[int, number("the sandbox's random seed, 0 or more", 0, 2**32 - 1)] = 42
    SANDBOX_AN_RATE: Annotated[
        float | None,
        number("the sandbox's Action Network rate, 0: no limit", 0, 1000, whole=False),
    ] = None  # unset: the simulator's own (4 a second)
    SANDBOX_LATENCY_MS: Annotated[
        float | None, number("the sandbox's answer time in ms, 0: fastest", 0, 60_000, whole=False)
    ] = None  # unset: the simulator's own
    NIGHTLY_SCHEDULE: Annotated[
        str,
        choice(
            lambda text: text.lower() in SWITCHES,
            lambda name, text: f"{name}={text!r} is not on or off.",
        ),
    ] = "off"
    SCHEDULE_TIMEZONE: Annotated[
        str,
        choice(
            _is_time_zone,
            lambda name, text: (
                f"{name}={text!r} is not a time zone name: use one like UTC or Europe/London."
            ),
        ),
    ] = "UTC"
    RUN_WAIT_SECONDS: Annotated[
        int, number("seconds to wait for another run's warehouse slot", 1, 7 * 86_400)
    ] = 1800

    @property
    def nightly(self) -> bool:
        """Whether the nightly schedule starts switched on."""
        return self.NIGHTLY_SCHEDULE.lower() in ("on", "true", "1")


# Every layer's settings, in the order their problems are listed.
LAYERS: tuple[type[EnvSettings], ...] = (
    *(p.settings_model for p in PLATFORMS),
    RunSettings,
    TransformSettings,
    WarehouseSettings,
    PortalSettings,
    ServiceSettings,
)
# Each setting's default, where it has one (the models hold them; this is a view).
DEFAULTS: dict[str, str] = {
    name: text for layer in LAYERS for name, text in layer.defaults().items() if text
}
PLATFORM_KEYS = tuple(p.secret for p in PLATFORMS if p.secret)


@dataclass(frozen=True)
class Settings:
    """Every setting, typed, by layer."""

    platforms: dict[str, EnvSettings]  # by platform name (connectors/registry.py)
    run: RunSettings
    transforms: TransformSettings
    warehouse: WarehouseSettings


def current() -> Settings:
    """The settings as the environment gives them now (call `validate` first)."""
    return Settings(
        platforms={p.name: p.settings_model() for p in PLATFORMS},
        run=RunSettings(),
        transforms=TransformSettings(),
        warehouse=WarehouseSettings(),
    )


# Settings that win over `.env` in every process this one starts, in one variable: Dagster's
# webserver, daemon and code servers load `.env` over what they inherit, so without it a
# setting given in the shell (or systemd's EnvironmentFile) would lose to `.env` there, and
# the blank keys of a `.env` copied from `.env.example` would hide the sandbox's.
PINNED_ENV = "GROUNDSWELL_PINNED_ENV"


def load_env(path: str | Path = ".env") -> None:
    """Read `.env` without overriding what the shell already set; then the settings a
    parent process pinned, which win."""
    load_dotenv(path, override=False)
    os.environ.update(_pinned())


def _pinned() -> dict[str, str]:
    return json.loads(os.environ.get(PINNED_ENV) or "{}")


def pin(values: dict[str, str]) -> None:
    """Set `values` in this process and make them win over `.env` in every process it
    starts (which call `load_env`)."""
    os.environ.update(values)
    os.environ[PINNED_ENV] = json.dumps({**_pinned(), **values})


def pin_shell(path: str | Path = ".env") -> None:
    """Before starting Dagster's own processes: pin what the shell sets of the settings
    `.env` also sets, so the shell wins there as it does here."""
    file = Path(path)
    if file.is_file():
        pin({name: os.environ[name] for name in dotenv_values(file) if name in os.environ})


def get(name: str) -> str:
    """A setting, or its default; empty strings count as unset."""
    return given(name) or DEFAULTS.get(name, "")


def has(name: str) -> bool:
    """Whether the setting is given (not empty) in the environment or `.env`."""
    return bool(given(name))


def wants_sandbox() -> bool:
    """SANDBOX=auto uses the simulated platforms when no platform key is configured."""
    mode = get("SANDBOX").lower()
    if mode == "off":
        return False
    if mode == "on":
        return True
    return not any(has(key) for key in PLATFORM_KEYS)


class SettingsError(ValueError):
    """Settings Groundswell cannot start with; the message lists each, one a line."""


def validate() -> None:
    """Check every setting before any request or file write; raise one SettingsError
    naming each bad setting and what to do. Secrets are named, never shown."""
    problems = [
        *_setting_problems(),
        *(problem for layer in LAYERS for problem in layer.joint_problems()),
        *_path_problems(),
        *_config_file_problems(),
    ]
    if problems:
        raise SettingsError(
            "Groundswell cannot start until these settings are fixed "
            "(in .env or the environment):\n" + "\n".join(f"- {p}" for p in problems)
        )


def _setting_problems() -> Iterator[str]:
    """Each setting's own check: numbers first, then choices, then keys and addresses."""
    found = [problem for layer in LAYERS for problem in layer.problems()]
    for _, problem in sorted(found, key=lambda item: item[0]):
        yield problem


# Folders Groundswell writes or reads whole; none may hold another or one of FILES.
FOLDERS = ("EXPORTS_DIR", "FORMS_INBOX", "BACKUP_DIR")
# Files Groundswell keeps (the snapshot is replaced whole on every run); each its own.
FILES = ("WAREHOUSE_PATH", "PORTAL_SNAPSHOT", "PORTAL_DB")


def _places() -> dict[str, Path]:
    """Each folder and file, resolved (DAGSTER_HOME too when it is set)."""
    from portal.store_db import is_postgres  # PORTAL_DB may be a postgresql:// address

    names = (*FILES, *FOLDERS, *(("DAGSTER_HOME",) if has("DAGSTER_HOME") else ()))
    # A store in PostgreSQL is no file here: it has no place to clash with.
    return {
        name: Path(get(name)).expanduser().resolve() for name in names if not is_postgres(get(name))
    }


def _path_problems() -> Iterator[str]:
    places = _places()
    files = [name for name in FILES if name in places]
    for name in files:
        if places[name].is_dir():
            yield (f"{name}={get(name)} is a folder: give the file, e.g. {_default(name)}.")
    for a, b in itertools.combinations(files, 2):
        if places[a] == places[b]:
            yield (
                f"{b}={get(b)} is the same file as {a}: each needs a file of its own "
                f"(defaults {a}={_default(a)}, {b}={_default(b)})."
            )
    for name in FOLDERS:
        if places[name].exists() and not places[name].is_dir():
            yield f"{name}={get(name)} is a file, not a folder: give a folder of its own."
    overlaps = list(_overlaps(places))
    yield from overlaps
    named = {problem.split("=", 1)[0] for problem in overlaps}
    yield from _holding_the_project({n: p for n, p in places.items() if n not in named})


def _overlaps(places: dict[str, Path]) -> Iterator[str]:
    """One message per place that is, or holds, another of them."""
    for outer, folder in places.items():
        same = [n for n, p in places.items() if n != outer and p == folder]
        inside = [n for n, p in places.items() if folder in p.parents]
        if outer in FILES or not (same or inside):
            continue
        clash = [f"is the same place as {n}" for n in same if outer < n]
        if inside:
            clash.append("holds " + _listed([f"{n}={get(n)}" for n in inside]))
        if clash:
            yield (
                f"{outer}={get(outer)} {' and '.join(clash)}: {HOLDS[outer]}, so give "
                f"{outer} a folder of its own, beside the others (default {_default(outer)})."
            )


def _listed(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


HOLDS = {
    "EXPORTS_DIR": "its exports are rewritten on every run",
    "FORMS_INBOX": "every file in it is read as a form export",
    "BACKUP_DIR": "backups are written there and restored from it",
    "DAGSTER_HOME": "Dagster keeps its run history there",
}


def _default(name: str) -> str:
    return DEFAULTS.get(name, "data/dagster")


def _holding_the_project(places: dict[str, Path]) -> Iterator[str]:
    """A folder that holds the project (and its .env and configuration) is refused."""
    project = Path.cwd().resolve()
    configs = [
        Path(get(n)).resolve()
        for n in ("LADDER_CONFIG", "IDENTITY_CONFIG", "FORMS_CONFIG", "TEAMS_CONFIG")
    ]
    for name in (n for n in FOLDERS if n in places):
        folder = places[name]
        if folder == project or folder in project.parents:
            yield (
                f"{name}={get(name)} is the project folder or holds it: {HOLDS[name]}, so "
                f"give it a folder of its own (default {DEFAULTS[name]})."
            )
        elif any(folder in config.parents for config in configs):
            yield (
                f"{name}={get(name)} holds a configuration file (ladder, identity, forms or "
                "teams): "
                f"{HOLDS[name]}, so give it a folder of its own (default {DEFAULTS[name]})."
            )


def _config_file_problems() -> Iterator[str]:
    """The ladder, identity, forms and teams files load, or their error is named."""
    from connectors.forms.config import load_column_maps
    from transforms.identity_config import load_identity_config
    from transforms.ladder_config import load
    from transforms.teams_config import load_teams

    checks: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("LADDER_CONFIG", load),
        ("IDENTITY_CONFIG", load_identity_config),
        ("FORMS_CONFIG", load_column_maps),
        ("TEAMS_CONFIG", load_teams),
    )
    for name, check in checks:
        path = get(name)
        try:
            check(path)
        except (ValueError, OSError, TypeError, AttributeError, KeyError) as exc:
            yield _named(name, path, exc)


def _named(name: str, path: str, exc: Exception) -> str:
    """The loader's message, prefixed with the setting when it does not name the file."""
    if isinstance(exc, UnicodeDecodeError):
        return f"{name}={path} is not UTF-8 text: save it as UTF-8 (a YAML file)."
    if isinstance(exc, OSError):
        return f"{name}={path} cannot be read ({exc.strerror or type(exc).__name__})."
    if not isinstance(exc, ValueError):
        # A loader tripped on a value of the wrong kind; its text may quote the file.
        return (
            f"{name}={path} has a value of the wrong kind (a list where a mapping belongs, "
            "or the reverse): compare it with the file shipped with Groundswell."
        )
    text = str(exc).rstrip(".")
    return f"{text}." if path in text or Path(path).name in text else f"{name}={path}: {text}."
