"""Configuration from the environment (a `.env` file is read if present). The names are a
contract: see DESIGN.md and `.env.example`."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

DEFAULTS = {
    "WAREHOUSE_PATH": "data/warehouse.duckdb",
    "FORMS_INBOX": "data/inbox",
    "EXPORTS_DIR": "data/exports",
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
}
PLATFORM_KEYS = ("ACTION_NETWORK_API_KEY", "MAILCHIMP_API_KEY")


def load_env(path: str | Path = ".env") -> None:
    """Read `.env` without overriding what the shell already set."""
    load_dotenv(path, override=False)


def get(name: str) -> str:
    """A setting, or its default; empty strings count as unset."""
    return (os.environ.get(name) or "").strip() or DEFAULTS.get(name, "")


def has(name: str) -> bool:
    return bool((os.environ.get(name) or "").strip())


def wants_sandbox() -> bool:
    """SANDBOX=auto uses the simulated platforms when no platform key is configured."""
    mode = get("SANDBOX").lower()
    if mode == "off":
        return False
    if mode == "on":
        return True
    return not any(has(key) for key in PLATFORM_KEYS)
