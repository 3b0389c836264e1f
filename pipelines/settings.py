"""Configuration from the environment (a `.env` file is read if present). The names are a
contract: see DESIGN.md and `.env.example`."""

from __future__ import annotations

import math
import os
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import phonenumbers
from dotenv import load_dotenv

DEFAULTS = {
    "WAREHOUSE_PATH": "data/warehouse.duckdb",
    "FORMS_INBOX": "data/inbox",
    "EXPORTS_DIR": "data/exports",
    "BACKUP_DIR": "data/backups",
    "LADDER_CONFIG": "ladder.yaml",
    "FORMS_CONFIG": "forms.yaml",
    "IDENTITY_CONFIG": "identity.yaml",
    "DEFAULT_PHONE_REGION": "US",
    "SANDBOX": "auto",
    "ACTION_NETWORK_BASE_URL": "https://actionnetwork.org/api/v2",
    "MAILCHIMP_MAX_CONNECTIONS": "8",
    "MAILCHIMP_ACTIVITY_DAYS": "30",
    "MAILCHIMP_RECONCILE_DAYS": "7",
    "ACTION_NETWORK_RATE": "4",
    "SANDBOX_PEOPLE": "5000",
    "SANDBOX_SEED": "42",
    "RUN_WAIT_SECONDS": "1800",
}
PLATFORM_KEYS = ("ACTION_NETWORK_API_KEY", "MAILCHIMP_API_KEY")


def load_env(path: str | Path = ".env") -> None:
    """Read `.env` without overriding what the shell already set."""
    load_dotenv(path, override=False)


def get(name: str) -> str:
    """A setting, or its default; empty strings count as unset."""
    return (os.environ.get(name) or "").strip() or DEFAULTS.get(name, "")


def has(name: str) -> bool:
    """Whether the setting is given (not empty) in the environment or `.env`."""
    return bool((os.environ.get(name) or "").strip())


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
        *_number_problems(),
        *_choice_problems(),
        *_platform_problems(),
        *_path_problems(),
        *_config_file_problems(),
    ]
    if problems:
        raise SettingsError(
            "Groundswell cannot start until these settings are fixed "
            "(in .env or the environment):\n" + "\n".join(f"- {p}" for p in problems)
        )


# name, whole number?, smallest, largest, what it is (for the message)
NUMBERS: tuple[tuple[str, bool, float, float, str], ...] = (
    ("MAILCHIMP_MAX_CONNECTIONS", True, 1, 10, "how many connections to Mailchimp at once, 1-10"),
    ("MAILCHIMP_ACTIVITY_DAYS", True, 0, 3650, "how many days a campaign's activity is read"),
    ("MAILCHIMP_RECONCILE_DAYS", False, 0, 3650, "how many days between full member checks"),
    ("ACTION_NETWORK_RATE", False, 0, 1000, "Action Network requests per second, 0: no limit"),
    ("SANDBOX_PEOPLE", True, 1, 10_000_000, "how many people the sandbox organisation has"),
    ("SANDBOX_SEED", True, 0, 2**32 - 1, "the sandbox's random seed, 0 or more"),
    ("SANDBOX_AN_RATE", False, 0, 1000, "the sandbox's Action Network rate, 0: no limit"),
    ("SANDBOX_LATENCY_MS", False, 0, 60_000, "the sandbox's answer time in ms, 0: fastest"),
    ("RUN_WAIT_SECONDS", True, 1, 7 * 86_400, "seconds to wait for another run's warehouse slot"),
)
SWITCHES = ("on", "off", "true", "false", "1", "0")


def _number_problems() -> Iterator[str]:
    for name, whole, low, high, meaning in NUMBERS:
        text = get(name)
        if not text:
            continue
        default = f" (default {DEFAULTS[name]})" if name in DEFAULTS else ""
        kind = "a whole number" if whole else "a number"
        if _number(text, whole) is None:
            yield f"{name}={text!r} is not {kind}: expected {meaning}{default}."
        elif not low <= _number(text, whole) <= high:
            yield f"{name}={text} is out of range: expected {meaning}{default}."


def _number(text: str, whole: bool) -> float | None:
    """The number in text, or None when it is not one (nan and infinity are not)."""
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _choice_problems() -> Iterator[str]:
    from warehouse.connection import memory_limit_problem

    if get("SANDBOX").lower() not in ("auto", "on", "off"):
        yield (
            f"SANDBOX={get('SANDBOX')!r} is not auto, on or off: auto uses the sandbox "
            "platforms when no platform key is set."
        )
    if has("NIGHTLY_SCHEDULE") and get("NIGHTLY_SCHEDULE").lower() not in SWITCHES:
        yield f"NIGHTLY_SCHEDULE={get('NIGHTLY_SCHEDULE')!r} is not on or off."
    if has("SCHEDULE_TIMEZONE") and not _is_time_zone(get("SCHEDULE_TIMEZONE")):
        yield (
            f"SCHEDULE_TIMEZONE={get('SCHEDULE_TIMEZONE')!r} is not a time zone name: "
            "use one like UTC or Europe/London."
        )
    if get("DEFAULT_PHONE_REGION").upper() not in phonenumbers.SUPPORTED_REGIONS:
        yield (
            f"DEFAULT_PHONE_REGION={get('DEFAULT_PHONE_REGION')!r} is not a two-letter "
            "country code: use one like US, GB or DE."
        )
    if has("DUCKDB_MEMORY_LIMIT"):
        problem = memory_limit_problem(get("DUCKDB_MEMORY_LIMIT"))
        if problem:
            yield problem + "."


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return True


def _platform_problems() -> Iterator[str]:
    from connectors.errors import PlatformError
    from connectors.mailchimp import base_url_for_key

    for key in PLATFORM_KEYS:
        if has(key) and any(c.isspace() or c in "\"'" for c in get(key)):
            yield (
                f"{key} has spaces or quotes inside it: paste the key alone, as the "
                "platform shows it."
            )
    for name in ("ACTION_NETWORK_BASE_URL", "MAILCHIMP_BASE_URL"):
        problem = _url_problem(name)
        if problem:
            yield problem
    if not has("MAILCHIMP_API_KEY"):
        return
    if not has("MAILCHIMP_LIST_ID"):
        yield (
            "MAILCHIMP_LIST_ID is not set while MAILCHIMP_API_KEY is: set it to the audience "
            "id (Audience > Settings > Audience name and defaults)."
        )
    if not has("MAILCHIMP_BASE_URL"):
        try:
            base_url_for_key(get("MAILCHIMP_API_KEY"))
        except PlatformError:
            yield (
                "MAILCHIMP_API_KEY has no data-centre suffix (a Mailchimp key ends like "
                "-us6): copy the whole key from Account > Extras > API keys, or set "
                "MAILCHIMP_BASE_URL."
            )


def _url_problem(name: str) -> str | None:
    """Why the URL setting cannot be used; its value is not repeated (it may hold a key)."""
    text = get(name)
    if not text:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("http", "https") or not host or " " in text:
        return f"{name} is not a web address: use one like {_EXAMPLE_URLS[name]}."
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        return (
            f"{name} uses http:// to a host other than this machine, which would send the "
            "API key unencrypted: use https://."
        )
    return None


_EXAMPLE_URLS = {
    "ACTION_NETWORK_BASE_URL": "https://actionnetwork.org/api/v2 (the default)",
    "MAILCHIMP_BASE_URL": "https://us6.api.mailchimp.com/3.0, or leave it empty",
}
# Folders Groundswell writes or reads whole; none may hold another or the warehouse.
FOLDERS = ("EXPORTS_DIR", "FORMS_INBOX", "BACKUP_DIR")


def _places() -> dict[str, Path]:
    """Each folder and the warehouse file, resolved (DAGSTER_HOME too when it is set)."""
    names = ("WAREHOUSE_PATH", *FOLDERS, *(("DAGSTER_HOME",) if has("DAGSTER_HOME") else ()))
    return {name: Path(get(name)).expanduser().resolve() for name in names}


def _path_problems() -> Iterator[str]:
    places = _places()
    warehouse = places["WAREHOUSE_PATH"]
    if warehouse.is_dir():
        yield (
            f"WAREHOUSE_PATH={get('WAREHOUSE_PATH')} is a folder: give the file, "
            "e.g. data/warehouse.duckdb."
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
        if outer == "WAREHOUSE_PATH" or not (same or inside):
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
    configs = [Path(get(n)).resolve() for n in ("LADDER_CONFIG", "IDENTITY_CONFIG", "FORMS_CONFIG")]
    for name in (n for n in FOLDERS if n in places):
        folder = places[name]
        if folder == project or folder in project.parents:
            yield (
                f"{name}={get(name)} is the project folder or holds it: {HOLDS[name]}, so "
                f"give it a folder of its own (default {DEFAULTS[name]})."
            )
        elif any(folder in config.parents for config in configs):
            yield (
                f"{name}={get(name)} holds a configuration file (ladder, identity or forms): "
                f"{HOLDS[name]}, so give it a folder of its own (default {DEFAULTS[name]})."
            )


def _config_file_problems() -> Iterator[str]:
    """The ladder, identity and forms files load, or their error is named."""
    from pipelines.resources import GroundswellSettings
    from transforms.identity_config import load_identity_config
    from transforms.ladder_config import load

    checks: tuple[tuple[str, Callable[[str], object]], ...] = (
        ("LADDER_CONFIG", load),
        ("IDENTITY_CONFIG", load_identity_config),
        ("FORMS_CONFIG", lambda path: GroundswellSettings(forms_config=path).column_maps()),
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
