"""The shared HTTP layer: retries, typed errors, the rate limiter."""

import time

import pytest

from connectors.errors import (
    AuthError,
    BadResponseError,
    NotFoundError,
    RequestRejected,
    RetryableError,
)
from connectors.http import HttpClient
from connectors.ratelimit import TokenBucket
from tests.support.scripted_server import ScriptedServer


def client(url: str, **kwargs) -> HttpClient:
    return HttpClient("Test Platform", url, backoff_max=0.05, **kwargs)


def test_retries_server_errors_and_429_then_succeeds():
    with ScriptedServer() as server:
        server.then(500).then(502).then(429, '{"error": "slow down"}').then(200, '{"ok": true}')
        http = client(server.url)
        assert http.request("GET", "things") == {"ok": True}
        assert http.stats.requests == 4
        assert http.stats.retries == 3
        assert http.stats.throttled == 1


def test_bad_key_fails_fast_without_retry():
    with ScriptedServer() as server:
        server.then(401, '{"error": "API Key invalid or not present"}')
        http = client(server.url)
        with pytest.raises(AuthError) as caught:
            http.request("GET", "people")
        assert "refused" in str(caught.value) and "Test Platform" in str(caught.value)
        assert len(server.requests) == 1


def test_html_404_is_a_not_found_error():
    with ScriptedServer() as server:
        server.then(404, "<html><body>Not Found</body></html>", "text/html")
        with pytest.raises(NotFoundError):
            client(server.url).request("GET", "people/0b9f1c3e-0000-4000-8000-000000000000")


def test_non_json_body_is_retried_then_reported():
    with ScriptedServer() as server:
        for _ in range(3):
            server.then(200, "<html>maintenance</html>", "text/html")
        http = client(server.url, max_attempts=3)
        with pytest.raises(BadResponseError) as caught:
            http.request("GET", "people")
        assert "expected JSON" in str(caught.value)
        assert len(server.requests) == 3


def test_other_4xx_keeps_the_platforms_title_and_detail():
    body = (
        '{"title": "Member In Compliance State", "status": 400, "detail": "cannot be subscribed"}'
    )
    with ScriptedServer() as server:
        server.then(400, body, "application/problem+json")
        with pytest.raises(RequestRejected) as caught:
            client(server.url).request("PUT", "lists/x/members/y", json_body={})
        assert caught.value.title == "Member In Compliance State"
        assert caught.value.detail == "cannot be subscribed"
        assert len(server.requests) == 1


def test_gives_up_after_bounded_attempts():
    with ScriptedServer() as server:
        for _ in range(3):
            server.then(503)
        with pytest.raises(RetryableError):
            client(server.url, max_attempts=3).request("GET", "x")
        assert len(server.requests) == 3


def test_connection_refused_is_retryable():
    http = client("http://127.0.0.1:9", max_attempts=2)
    with pytest.raises(RetryableError):
        http.request("GET", "x")
    assert http.stats.retries == 1


def test_messages_mask_ids_and_drop_queries():
    with ScriptedServer() as server:
        server.then(404, "<html></html>", "text/html")
        with pytest.raises(NotFoundError) as caught:
            client(server.url).request(
                "GET",
                "lists/abc/members/5d41402abc4b2a76b9719d911017c592",
                params={"filter": "email_address eq 'a@b.c'"},
            )
        assert "5d41402abc4b2a76b9719d911017c592" not in str(caught.value)
        assert "a@b.c" not in str(caught.value)


def test_token_bucket_holds_the_rate():
    bucket = TokenBucket(20, burst=1)
    started = time.monotonic()
    for _ in range(11):
        bucket.acquire()
    elapsed = time.monotonic() - started
    assert elapsed >= 0.45  # 10 waits of 1/20 s after the first token


def test_unlimited_bucket_never_waits():
    bucket = TokenBucket(0)
    assert all(bucket.acquire() == 0.0 for _ in range(100))
