"""Shared plumbing for the simulated platforms: routing by route template, request stats,
a token-bucket rate limit, a concurrency limit, and JSON responses. Stdlib only."""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from sandbox.faults import Faults

NOT_FOUND_HTML = "<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>"


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any
    base: str  # scheme://host:port of this server, for absolute links
    args: dict[str, str] = field(default_factory=dict)
    # Per-request scratch space for wrappers (the audit's Write, a batch's id).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any = None
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        # orjson: a page of 1,000 members took the server's one interpreter ~8 ms with
        # json.dumps, which serialised concurrent clients behind it (not a real API's way).
        return orjson.dumps(self.body, option=orjson.OPT_NON_STR_KEYS)


Handler = Callable[[Request], Response]


class Route:
    def __init__(self, method: str, template: str, handler: Handler) -> None:
        self.method = method
        self.template = template
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
        self.regex = re.compile(f"^{pattern}/?$")
        self.handler = handler


class Stats:
    """Counts by `METHOD /template`, 429s served, and the most requests in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0  # live, so a reset never touches it
        self.reset()

    def reset(self) -> None:
        self.requests: dict[str, int] = {}
        self.throttled = 0
        self.max_concurrency = 0

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "throttled": self.throttled,
                "max_concurrency": self.max_concurrency,
            }


class RateLimit:
    """Answer 429 once the bucket is empty; rate 0 means no limit."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if self.rate <= 0:
            return True
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class PlatformServer:
    """One simulated platform on loopback, serving `routes` under `prefix`."""

    def __init__(
        self,
        prefix: str,
        routes: list[Route],
        *,
        authorise: Callable[[Request], Response | None],
        throttled: Callable[[], Response],
        rate: float = 0.0,
        max_concurrency: int = 0,
        latency: float = 0.0,
        faults: Faults | None = None,
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self.routes = routes
        self.authorise = authorise
        self.throttled = throttled
        self.rate_limit = RateLimit(rate)
        self.max_concurrency = max_concurrency
        self.latency = latency
        self.stats = Stats()
        self.faults = faults or Faults()
        # Extra control routes ("POST /_sandbox/advance" -> handler), set by the owner; a
        # template ("GET /_sandbox/batch-results/{name}") passes its fields in `args`.
        self.controls: dict[str, Handler] = {}
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> PlatformServer:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: with Nagle's algorithm on, each
            # response would wait for a delayed ACK (about 40 ms) and distort latency.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                response = server.dispatch(self)
                data = response.encoded()
                self.send_response(response.status)
                if response.status != 204:
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may have given up first (a stall it timed out on).
                if data:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), RequestHandler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def dispatch(self, raw: BaseHTTPRequestHandler) -> Response:
        parts = urlsplit(raw.path)
        length = int(raw.headers.get("Content-Length") or 0)
        payload = raw.rfile.read(length) if length else b""
        if parts.path.startswith("/_sandbox/"):
            return self._control(raw.command, parts.path, parts.query, payload)
        path = parts.path
        if path.startswith(self.prefix):
            path = path[len(self.prefix) :] or "/"
        route, args = self._match(raw.command, path)
        key = f"{raw.command} {route.template if route else path}"
        stats = self.stats
        with stats.lock:
            stats.requests[key] = stats.requests.get(key, 0) + 1
            stats.in_flight += 1
            stats.max_concurrency = max(stats.max_concurrency, stats.in_flight)
            over = self.max_concurrency and stats.in_flight > self.max_concurrency
        try:
            if over or not self.rate_limit.allow():
                with stats.lock:
                    stats.throttled += 1
                return self.throttled()
            if self.latency:
                # Real round trips vary: a log-normal spread around the median.
                time.sleep(self.latency * random.lognormvariate(0.0, 0.35))
            try:
                body = json.loads(payload) if payload else None
            except ValueError:
                return Response(400, {"error": "request body is not JSON"})
            host = raw.headers.get("Host") or self.url.split("//", 1)[1]
            request = Request(
                raw.command,
                path,
                {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                {k.lower(): v for k, v in raw.headers.items()},
                body,
                f"http://{host}",
                args,
            )
            denied = self.authorise(request)
            if denied is not None:
                return denied
            fault = self.faults.draw()
            if fault == "burst_429":
                with stats.lock:
                    stats.throttled += 1
                return self.throttled()
            if fault == "error":
                status = self.faults.error_status()
                return Response(status, f"<html><body><h1>{status}</h1></body></html>", "text/html")
            if fault == "html_404":
                return Response(404, NOT_FOUND_HTML, "text/html; charset=utf-8")
            if fault == "timeout":
                time.sleep(self.faults.stall_seconds)
            if route is None:
                return self.not_found(request)
            response = route.handler(request)
            if fault == "truncate":
                data = response.encoded()
                return Response(response.status, data[: len(data) // 2], response.content_type)
            return response
        finally:
            with stats.lock:
                stats.in_flight -= 1

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": "not found"})

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method == method:
                match = route.regex.match(path)
                if match:
                    return route, match.groupdict()
        return None, {}

    def _control(self, method: str, path: str, query: str, payload: bytes) -> Response:
        route = f"{method} {path.rstrip('/')}"
        if route == "GET /_sandbox/stats":
            return Response(200, self.stats.as_dict())
        if route == "POST /_sandbox/reset":
            with self.stats.lock:
                self.stats.reset()
            return Response(200, {"reset": True})
        if route == "GET /_sandbox/faults":
            return Response(200, self.faults.as_dict())
        handler, args = self._control_handler(route)
        if route in ("POST /_sandbox/faults", "POST /_sandbox/advance") or handler is not None:
            try:
                body = json.loads(payload) if payload else {}
            except ValueError:
                return Response(400, {"error": "body is not JSON"})
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            if route == "POST /_sandbox/faults":
                self.faults.configure(body)
                return Response(200, self.faults.as_dict())
            if handler is not None:
                return handler(Request(method, path, params, {}, body, self.url, args))
        return Response(404, {"error": "unknown sandbox control"})

    def _control_handler(self, route: str) -> tuple[Handler | None, dict[str, str]]:
        """An exact control route first, then a templated one."""
        if route in self.controls:
            return self.controls[route], {}
        for template, handler in self.controls.items():
            if "{" in template:
                pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
                match = re.fullmatch(pattern, route)
                if match:
                    return handler, match.groupdict()
        return None, {}
