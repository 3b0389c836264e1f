"""Password hashes (argon2id, via argon2-cffi, RFC 9106's low-memory profile by default)
and the password policy: at least 12 characters, not on the common-password list shipped
beside this module, not the email."""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # longer is refused before hashing: nobody types more, and it bounds work
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    """The refused common passwords, lower-cased."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


def problem(password: str, email: str) -> str | None:
    """Why `password` may not be used by `email`, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return (
            f"Use at least {MIN_LENGTH} characters: a few unrelated words you will "
            "remember make a good password."
        )
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.strip().lower()
    local_part = email.split("@", 1)[0].lower()
    if email.lower() in lowered or lowered == local_part:
        return "Your password must not be your email address: choose another."
    if lowered in common_passwords():
        return "That password is on a list of common passwords people guess first: choose another."
    return None


class Passwords:
    """Hashes and checks passwords with one argon2 hasher (argon2-cffi's defaults unless
    given: tests pass a cheap one so they run in seconds)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        # Verified when the email matches no account, so an unknown address takes as long.
        return self.hasher.hash("groundswell-no-such-account")

    def hash(self, password: str) -> str:
        """The argon2id hash to keep."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; a missing hash still costs a verification."""
        if len(password) > MAX_LENGTH:
            return False
        try:
            matched = self.hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None
