"""The portal's settings: where its store lives, where it listens, its link address, how
long a session may sit idle, the key that signs its cookies, and whether it is on HTTPS."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field

from warehouse.env_settings import EnvSettings, choice, number

SWITCHES = ("on", "off", "true", "false", "1", "0")
# Beside the store's default place; created once, readable by its owner only.
SECRET_KEY_FILE = Path("data/portal/secret_key")


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


class PortalSettings(EnvSettings):
    """The organiser portal (`make portal`, `make invite`, `make revoke`)."""

    PORTAL_DB: str = "data/portal/portal.db"  # accounts, sessions, invitations, audit
    # The address the portal is reached at: invitation links start with it.
    PORTAL_URL: Annotated[
        str,
        choice(
            _is_url,
            lambda name, text: (
                f"{name}={text!r} is not a web address: give one like "
                "https://portal.example.org (no path)."
            ),
        ),
    ] = "http://127.0.0.1:8000"
    PORTAL_HOST: str = "127.0.0.1"  # 0.0.0.0 listens on every interface: use a proxy
    PORTAL_PORT: Annotated[int, number("the portal's port, 1-65535", 1, 65_535)] = 8000
    PORTAL_IDLE_MINUTES: Annotated[
        int, number("minutes a session may sit idle before it ends, 1-720", 1, 720)
    ] = 30
    # Unset: a random key made once and kept in data/portal/secret_key (mode 0600).
    PORTAL_SECRET_KEY: Annotated[str, Field(repr=False)] = ""
    # on: cookies are Secure (set it when a proxy serves the portal over HTTPS).
    PORTAL_HTTPS: Annotated[
        str,
        choice(
            lambda text: text.lower() in SWITCHES,
            lambda name, text: f"{name}={text!r} is not on or off.",
        ),
    ] = "off"

    @property
    def https(self) -> bool:
        """Whether cookies are always marked Secure."""
        return self.PORTAL_HTTPS.lower() in ("on", "true", "1")

    def secret_key(self, key_file: Path = SECRET_KEY_FILE) -> str:
        """PORTAL_SECRET_KEY, or the key kept in `key_file` (made once, mode 0600)."""
        if self.PORTAL_SECRET_KEY:
            return self.PORTAL_SECRET_KEY
        return _kept_key(key_file)


def _kept_key(path: Path) -> str:
    """The key in `path`, written first with a fresh random key when it is missing."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once, the second reads the first one's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key
