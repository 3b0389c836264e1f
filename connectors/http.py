"""The HTTP layer every platform client shares: one session, timeouts, bounded retries
with jittered backoff, a client-side rate limit, and typed errors."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from connectors.errors import (
    AnswerLostError,
    AuthError,
    BadResponseError,
    NotFoundError,
    NotFoundPageError,
    PlatformError,
    RequestRejected,
    RetryableError,
)
from connectors.ratelimit import TokenBucket

log = logging.getLogger("groundswell.connectors")

# Ids and subscriber hashes in paths are pseudonymous personal data: keep them out of messages.
_ID_IN_PATH = re.compile(r"/[0-9a-fA-F-]{16,}")
READ_METHODS = frozenset({"GET", "HEAD"})
# Sending these twice leaves the same state as once. POST and DELETE are not assumed to be
# (a second DELETE answers 404, a second POST may create twice): callers that know better
# say so per request.
# A write whose answer was lost is never resent here: the push records every write as
# intended before sending it and settles a lost answer from the platform's state, so a
# second send would only be a duplicate write. Reads are always safe to repeat.
IDEMPOTENT_METHODS = READ_METHODS
# Server errors after which a write may have been applied (503 says it was not taken on).
MAYBE_APPLIED = frozenset({500, 502, 504})
# The body stopped arriving part-way: the request certainly reached the platform.
_CUT_OFF = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
# (response, parsed body or None) -> whether this 404 is the platform's own "not found".
NotFoundShape = Callable[[requests.Response, Any], bool]


def safe_path(url: str) -> str:
    """The path of a URL with ids masked and the query dropped (filters can hold emails)."""
    path = requests.utils.urlparse(url).path
    return _ID_IN_PATH.sub("/{id}", path)


@dataclass
class RequestStats:
    """Counts of what a client did, safe to report (no personal data)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "retries": self.retries, "throttled": self.throttled}


class HttpClient:
    """A session bound to one platform and key. State (session, limiter, counters) is real."""

    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        rate_limiter: TokenBucket | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_attempts: int = 6,
        backoff_max: float = 30.0,
        pool_size: int = 10,
        is_not_found: NotFoundShape | None = None,
    ) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self.limiter = rate_limiter or TokenBucket(0)
        self.is_not_found = is_not_found or json_error
        self.stats = RequestStats()
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", **(headers or {})})
        if auth:
            self.session.auth = auth

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        keep_content: bool = False,
    ) -> Any:
        """Send one request with retries; returns parsed JSON, or None for an empty body
        (with `keep_content`, a pair of it and the body's bytes, for landing them as they
        came). `idempotent` (default: reads only) says whether a request whose answer was
        lost may be sent again; if not, AnswerLostError reaches the caller at once."""
        url = self.url(path)
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, AnswerLostError):
                return idempotent
            # A garbled body on a read is usually a cut-off transfer: reading again is safe.
            return isinstance(exc, RetryableError) or (
                isinstance(exc, BadResponseError) and method in READ_METHODS
            )

        def before_sleep(state: Any) -> None:
            self.stats.add("retries")
            log.warning(
                "%s %s %s failed (%s); retry %d of %d",
                self.platform,
                method,
                safe_path(url),
                type(state.outcome.exception()).__name__,
                state.attempt_number,
                self.max_attempts - 1,
            )

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            wait=wait_random_exponential(multiplier=0.5, max=self.backoff_max),
            stop=stop_after_attempt(self.max_attempts),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(self._send_once, method, url, params, json_body, keep_content)

    def _send_once(
        self, method: str, url: str, params: Any, json_body: Any, keep_content: bool = False
    ) -> Any:
        self.limiter.acquire()
        self.stats.add("requests")
        where = f"{method} {safe_path(url)}"
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise self._network_error(method, url, where, exc) from exc
        body = self._parse(response, method, where)
        return (body, response.content) if keep_content else body

    def _network_error(
        self, method: str, url: str, where: str, exc: requests.RequestException
    ) -> PlatformError:
        """What a failure to get an answer means: a write that may have arrived is a lost
        answer; anything else is a network fault worth retrying."""
        name = type(exc).__name__
        if method not in READ_METHODS and _maybe_sent(exc):
            return AnswerLostError(
                self.platform,
                f"{where}: the answer was lost ({name}) after the request was sent, so "
                "the platform may have applied it; check its state before sending it again",
                method=method,
                path=safe_path(url),
            )
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, *_CUT_OFF)):
            return RetryableError(self.platform, f"{where}: network error ({name})")
        return PlatformError(self.platform, f"{where}: the request could not be sent ({name})")

    def _parse(self, response: requests.Response, method: str, where: str) -> Any:
        status = response.status_code
        body = _json_or_none(response)
        if status == 429:
            self.stats.add("throttled")
            raise RetryableError(self.platform, f"{where}: rate limited (429)", status)
        if status >= 500:
            if method not in READ_METHODS and status in MAYBE_APPLIED:
                # A gateway or server failing after the request arrived may have applied it.
                raise AnswerLostError(
                    self.platform,
                    f"{where}: server error {status} after the request was sent, so the "
                    "platform may have applied it; check its state before sending it again",
                    status,
                    method=method,
                    path=where.split(" ", 1)[1],
                )
            raise RetryableError(self.platform, f"{where}: server error {status}", status)
        if status in (401, 403):
            if status == 403 and body is None:
                # Mailchimp answers floods with a bare 403: that is throttling, not a bad key.
                raise RetryableError(self.platform, f"{where}: refused without a body (403)", 403)
            raise AuthError(
                self.platform,
                f"{where}: the API key was refused (HTTP {status}: {_title(body)}). "
                "Check the key and its permissions; not retrying.",
                status,
            )
        if status == 404:
            raise self._not_found(response, body, where)
        if status >= 400:
            title = _title(body)
            detail = str((body or {}).get("detail") or "") if isinstance(body, dict) else ""
            raise RequestRejected(
                self.platform, f"{where}: rejected ({status} {title})", status, title, detail
            )
        if status == 204 or not response.content:
            return None
        if body is None:
            raise self._unreadable(response, method, where)
        return body

    def _not_found(self, response: requests.Response, body: Any, where: str) -> PlatformError:
        """Only the platform's own JSON error means "not found"; any other 404 (an HTML
        page from a proxy or a faulty node) is a transient fault, retried like a 5xx."""
        if self.is_not_found(response, body):
            # Only a problem+json title (a fixed phrase): an `error` text may name the id.
            title = body.get("title") if isinstance(body, dict) else None
            said = title if isinstance(title, str) else f"{self.platform}'s own answer"
            return NotFoundError(self.platform, f"{where}: not found (404 {said})", 404)
        return NotFoundPageError(
            self.platform,
            f"{where}: answered 404 with {_describe_body(response)} instead of "
            f"{self.platform}'s own JSON error; that is a transient fault (a proxy or a "
            "node having a bad moment), not a missing record",
            404,
        )

    def _unreadable(self, response: requests.Response, method: str, where: str) -> PlatformError:
        """A 2xx whose body is not JSON: cut off on the way, or a page that is not the API's."""
        what = f"{where}: {_describe_body(response)}, not the JSON the API sends"
        if method not in READ_METHODS:
            return AnswerLostError(
                self.platform,
                f"{what}; the write may have been applied, so check the platform's state "
                "before sending it again",
                response.status_code,
                method=method,
                path=where.split(" ", 1)[1],
            )
        return BadResponseError(self.platform, what, response.status_code, response.content)


def json_error(response: requests.Response, body: Any) -> bool:
    """The default test of a platform's own "not found": a JSON object in a JSON body."""
    ctype = response.headers.get("Content-Type", "")
    return "json" in ctype.lower() and isinstance(body, dict)


def _maybe_sent(exc: requests.RequestException) -> bool:
    """False only when the request certainly never left: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return isinstance(exc, (requests.Timeout, *_CUT_OFF))


def _describe_body(response: requests.Response) -> str:
    """What arrived, in words, without repeating any of it."""
    ctype = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()
    size = len(response.content)
    if "html" in ctype.lower():
        return f"an HTML page ({ctype}, {size} bytes)"
    if "json" in ctype.lower() and size:
        return f"an answer that was cut off or is not valid JSON ({ctype}, {size} bytes)"
    if not size:
        return f"an empty answer ({ctype})"
    return f"an answer that is not JSON ({ctype}, {size} bytes)"


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        # orjson: parsing pages of 1,000 members is a large share of a sync's CPU time.
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _title(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("title") or body.get("error") or "no detail")
    return "no detail"


__all__ = [
    "IDEMPOTENT_METHODS",
    "HttpClient",
    "NotFoundShape",
    "PlatformError",
    "RequestStats",
    "json_error",
    "safe_path",
]
