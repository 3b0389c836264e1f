"""Typed errors a user can act on: each names the platform and says what to do."""

from __future__ import annotations


class PlatformError(Exception):
    """A platform answered in a way we cannot use."""

    def __init__(self, platform: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{platform}: {message}")
        self.platform = platform
        self.status = status


class AuthError(PlatformError):
    """401/403: the key is wrong, expired or lacks access. Never retried."""


class NotFoundError(PlatformError):
    """404 in the platform's own JSON error shape: the platform itself says the resource
    (list id, campaign, person, tag) does not exist for this key. One such answer is not
    proof of a deletion: callers look again in a later run before treating it as gone."""


class BadResponseError(PlatformError):
    """The body was not the JSON the platform documents (an HTML error page, a cut-off body).
    `body` keeps what arrived (up to 64 KiB) so it can be stored rather than lost."""

    def __init__(
        self, platform: str, message: str, status: int | None = None, body: bytes = b""
    ) -> None:
        super().__init__(platform, message, status)
        self.body = body[:65536]


class RetryableError(PlatformError):
    """429, 5xx or a network fault: worth trying again after a pause."""


class NotFoundPageError(RetryableError):
    """404 without the platform's JSON error (an HTML page from a proxy, a load balancer or
    a node having a bad moment): a transient fault, retried like a 5xx. Never a sign that
    the resource is gone."""


class AnswerLostError(RetryableError):
    """A write was sent but its answer was lost or cut off (a read timeout, a dropped
    connection, a body that is not valid JSON): the platform may have applied it. Retried
    only for idempotent writes; otherwise the caller must check the platform's state
    before sending the write again. `method` and `path` (ids masked) say which write."""

    def __init__(
        self, platform: str, message: str, status: int | None = None, *, method: str, path: str
    ) -> None:
        super().__init__(platform, message, status)
        self.method = method
        self.path = path


class RequestRejected(PlatformError):
    """Another 4xx: the platform refused this one operation, with its own title and detail."""

    def __init__(
        self, platform: str, message: str, status: int, title: str = "", detail: str = ""
    ) -> None:
        super().__init__(platform, message, status)
        self.title = title
        self.detail = detail
