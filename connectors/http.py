"""The HTTP layer every platform client shares: one session, timeouts, bounded retries
with jittered backoff, a client-side rate limit, and typed errors."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from connectors.errors import (
    AuthError,
    BadResponseError,
    NotFoundError,
    PlatformError,
    RequestRejected,
    RetryableError,
)
from connectors.ratelimit import TokenBucket

log = logging.getLogger("groundswell.connectors")

# Ids and subscriber hashes in paths are pseudonymous personal data: keep them out of messages.
_ID_IN_PATH = re.compile(r"/[0-9a-fA-F-]{16,}")


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
    ) -> None:
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self.limiter = rate_limiter or TokenBucket(0)
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
    ) -> Any:
        """Send one request with retries; returns parsed JSON, or None for an empty body."""
        url = self.url(path)

        def retryable(exc: BaseException) -> bool:
            # A garbled body on a read is usually a cut-off transfer: reading again is safe.
            return isinstance(exc, RetryableError) or (
                isinstance(exc, BadResponseError) and method == "GET"
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
        return retrying(self._send_once, method, url, params, json_body)

    def _send_once(self, method: str, url: str, params: Any, json_body: Any) -> Any:
        self.limiter.acquire()
        self.stats.add("requests")
        where = f"{method} {safe_path(url)}"
        try:
            response = self.session.request(
                method, url, params=params, json=json_body, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryableError(
                self.platform, f"{where}: network error ({type(exc).__name__})"
            ) from exc
        return self._parse(response, where)

    def _parse(self, response: requests.Response, where: str) -> Any:
        status = response.status_code
        body = _json_or_none(response)
        if status == 429:
            self.stats.add("throttled")
            raise RetryableError(self.platform, f"{where}: rate limited (429)", status)
        if status >= 500:
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
            raise NotFoundError(self.platform, f"{where}: not found (404)", status)
        if status >= 400:
            title = _title(body)
            detail = str((body or {}).get("detail") or "") if isinstance(body, dict) else ""
            raise RequestRejected(
                self.platform, f"{where}: rejected ({status} {title})", status, title, detail
            )
        if status == 204 or not response.content:
            return None
        if body is None:
            ctype = response.headers.get("Content-Type", "unknown")
            raise BadResponseError(
                self.platform,
                f"{where}: expected JSON but got {ctype} ({len(response.content)} bytes)",
                status,
                response.content,
            )
        return body


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


__all__ = ["HttpClient", "PlatformError", "RequestStats", "safe_path"]
