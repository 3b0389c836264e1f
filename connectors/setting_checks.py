"""Checks shared by the platforms' settings: an API key pasted whole, a base URL that is a
web address and never sends a key unencrypted. A message names the setting, never its
value (a key, or a URL that may hold one)."""

from __future__ import annotations

from urllib.parse import urlsplit

from warehouse.env_settings import Check

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def api_key() -> Check:
    """A key as the platform shows it: no spaces or quotes inside."""

    def problem(name: str, text: str, _default: str) -> str | None:
        if any(c.isspace() or c in "\"'" for c in text):
            return (
                f"{name} has spaces or quotes inside it: paste the key alone, as the "
                "platform shows it."
            )
        return None

    return Check(problem, rank=2)


def base_url(example: str, secret: str | None = "the API key") -> Check:
    """An http(s) address; plain http only to this machine (the sandbox) when the address
    carries `secret` (None: any http address is fine)."""

    def problem(name: str, text: str, _default: str) -> str | None:
        try:
            parts = urlsplit(text)
            host = parts.hostname or ""
        except ValueError:
            parts, host = None, ""
        if parts is None or parts.scheme not in ("http", "https") or not host or " " in text:
            return f"{name} is not a web address: use one like {example}."
        if secret and parts.scheme == "http" and host not in LOOPBACK:
            return (
                f"{name} uses http:// to a host other than this machine, which would send "
                f"{secret} unencrypted: use https://."
            )
        return None

    return Check(problem, rank=3)
