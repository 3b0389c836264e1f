"""Who may come in: invitations, passwords, sign-in with throttling, and server-side
sessions with idle and absolute expiry. Teams are read from the teams file at sign-in and
again on every request, so a change to it takes effect at once."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

from portal import passwords
from portal.context import HQ, ORGANISER, User
from portal.store import Invitation, Store
from portal.teams import TeamsFile, TeamsFileError

INVITATION_DAYS = 7
ABSOLUTE_HOURS = 12
# Throttling: this many failed sign-ins within the window lock the email (or the client
# address, for attempts spread over many emails) for LOCK_MINUTES.
EMAIL_FAILURES = 5
ADDRESS_FAILURES = 20
WINDOW_MINUTES = 15
LOCK_MINUTES = 15
# last_seen is written at most this often, so browsing is not a write per request.
TOUCH_SECONDS = 15

SIGN_IN_FAILED = (
    "That email and password do not match an active account, or sign-in is paused after "
    f"repeated failures: check them, or wait {LOCK_MINUTES} minutes and try again."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def digest(secret: str) -> str:
    """The SHA-256 of a token or session id: what the store keeps instead of it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


class InviteRefused(ValueError):
    """An invitation that may not be sent; the message says why and what to do."""


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: a new session id and its user, or a message to show."""

    session_id: str | None = None
    user: User | None = None
    message: str | None = None
    status: int = 200


@dataclass(frozen=True)
class Current:
    """The user of a session id, or why there is none ('', 'ended', 'idle', 'expired',
    'revoked', 'no_team', 'teams_file')."""

    user: User | None
    why: str = ""


class Auth:
    """Accounts, invitations and sessions over the portal's store."""

    def __init__(
        self,
        store: Store,
        teams: TeamsFile,
        base_url: str,
        *,
        idle_minutes: int = 30,
        clock: Clock = utc_now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.passwords = passwords.Passwords(hasher)
        self.teams = teams
        self.base_url = base_url.rstrip("/")
        self.idle = timedelta(minutes=idle_minutes)
        self.absolute = timedelta(hours=ABSOLUTE_HOURS)
        self.clock = clock

    # -- invitations ------------------------------------------------------------------

    def invite(
        self,
        email: str,
        role: str = ORGANISER,
        teams: tuple[str, ...] | None = None,
        *,
        again: bool = False,
    ) -> str:
        """A single-use link, valid INVITATION_DAYS days, to set a password. An organiser's
        teams come from the teams file unless given. Refused (InviteRefused) for an address
        already active unless `again`, and for an organiser who leads no team."""
        email = normalise_email(email)
        if not _EMAIL.match(email):
            raise InviteRefused("That is not an email address: give one like name@example.org.")
        if role not in (HQ, ORGANISER):
            raise InviteRefused(f"Role {role!r} is not hq or organiser.")
        if role == ORGANISER:
            teams = tuple(teams) if teams is not None else self._led_by(email)
            if not teams:
                raise InviteRefused(
                    f"That address leads no team in {self.teams.path}: add it under "
                    "organisers: of its team there, then invite it again (or use --role hq)."
                )
        else:
            teams = ()
        account = self.store.account(email)
        if account and account.active and not again:
            raise InviteRefused(
                "That address already has an active account: they sign in at "
                f"{self.base_url}/sign-in. To send a new link anyway (a forgotten password), "
                "invite again with --again (make invite EMAIL=... AGAIN=1); their password "
                "and sessions end when they set a new one."
            )
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.store.add_invitation(
            digest(token), email, role, teams, now, now + timedelta(days=INVITATION_DAYS)
        )
        return f"{self.base_url}/invite/{token}"

    def invitation(self, token: str) -> tuple[Invitation | None, str]:
        """The invitation of a token and its state: 'ok', 'unknown', 'used' or 'expired'."""
        found = self.store.invitation(digest(token))
        if found is None:
            return None, "unknown"
        if found.used_at is not None:
            return found, "used"
        if found.expires <= self.clock():
            return found, "expired"
        return found, "ok"

    def accept(self, token: str, password: str) -> tuple[str, str | None]:
        """Set the password of an invitation: (state, problem with the password or None).
        The state is the invitation's ('ok' when the password was set)."""
        found, state = self.invitation(token)
        if found is None or state != "ok":
            return state, None
        problem = passwords.problem(password, found.email)
        if problem:
            return state, problem
        if not self.store.accept_invitation(
            digest(token), self.passwords.hash(password), self.clock()
        ):
            return "used", None  # another request used it first
        return "ok", None

    # -- signing in and out -----------------------------------------------------------

    def sign_in(self, email: str, password: str, address: str) -> SignIn:
        """A new session for a right email and password, unless throttled or teamless."""
        email = normalise_email(email)
        now = self.clock()
        subjects = (f"email:{email}", f"ip:{address}")
        account = self.store.account(email)
        actor = email if account else None  # never keep what a stranger typed
        if any(self.store.locked(subject, now) for subject in subjects):
            self.store.record(now, actor, "sign_in_throttled", ip=address)
            return SignIn(message=SIGN_IN_FAILED, status=401)
        usable = account is not None and account.active
        if not self.passwords.verify(account.password_hash if usable else None, password):
            self._failed(subjects, now)
            self.store.record(now, actor, "sign_in_failed", ip=address)
            return SignIn(message=SIGN_IN_FAILED, status=401)
        assert account is not None
        self.store.forget_failures(subjects[0])
        user, why = self._user(account.email, account.role)
        if user is None:
            self.store.record(now, actor, "sign_in_refused", ip=address)
            return SignIn(message=WHY[why], status=403)
        session_id = secrets.token_urlsafe(32)
        self.store.add_session(digest(session_id), email, now)
        self.store.record(now, email, "sign_in", ip=address)
        return SignIn(session_id=session_id, user=user)

    def _failed(self, subjects: tuple[str, str], now: datetime) -> None:
        self.store.add_failure(subjects, now)
        since = now - timedelta(minutes=WINDOW_MINUTES)
        until = now + timedelta(minutes=LOCK_MINUTES)
        for subject, limit in zip(subjects, (EMAIL_FAILURES, ADDRESS_FAILURES), strict=True):
            if self.store.failures_since(subject, since) >= limit:
                self.store.lock(subject, until)
        self.store.prune(now - timedelta(days=1))

    def current(self, session_id: str) -> Current:
        """The user of a live session (its last_seen moved on), or why it is not live."""
        key = digest(session_id)
        row = self.store.session(key)
        if row is None or row.ended is not None:
            return Current(None, "ended")
        now = self.clock()
        why = ""
        if now - row.last_seen > self.idle:
            why = "idle"
        elif now - row.created > self.absolute:
            why = "expired"
        account = self.store.account(row.email)
        if not why and (account is None or not account.active):
            why = "revoked"
        if not why and account is not None:
            user, why = self._user(account.email, account.role)
            if user is not None:
                if now - row.last_seen >= timedelta(seconds=TOUCH_SECONDS):
                    self.store.touch_session(key, now)
                return Current(user)
        self.store.end_session(key, now)
        return Current(None, why)

    def _user(self, email: str, role: str) -> tuple[User | None, str]:
        """The user with the teams the teams file gives now, or why they may not sign in."""
        if role == HQ:
            try:
                return User(email, HQ, self.teams.names()), ""
            except TeamsFileError:
                return User(email, HQ, ()), ""  # HQ sees every team whatever the file says
        try:
            teams = self.teams.led_by(email)
        except TeamsFileError:
            return None, "teams_file"
        if not teams:
            return None, "no_team"
        return User(email, ORGANISER, teams), ""

    def _led_by(self, email: str) -> tuple[str, ...]:
        try:
            return self.teams.led_by(email)
        except TeamsFileError as exc:
            raise InviteRefused(str(exc)) from exc

    def sign_out(self, session_id: str) -> None:
        """End this session."""
        self.store.end_session(digest(session_id), self.clock())

    def revoke(self, email: str) -> bool:
        """Deactivate the account and end every session of it at once; False if unknown."""
        return self.store.deactivate(normalise_email(email), self.clock())


# What a signed-out person is told (None: nothing particular to say).
WHY: dict[str, str] = {
    "no_team": (
        "Your account leads no team in the teams file, so there is nothing for you to "
        "see: ask the volunteer who runs Groundswell to add you as an organiser of your team."
    ),
    "teams_file": (
        "The portal cannot read its teams file just now: ask the volunteer who runs "
        "Groundswell to fix it, then sign in again."
    ),
    "idle": "You were signed out after a while without activity: sign in again.",
    "expired": f"Sessions last at most {ABSOLUTE_HOURS} hours: sign in again.",
}
