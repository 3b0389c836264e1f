"""The shared HTTP layer: retries, typed errors, the rate limiter."""

import time

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.errors import (
    AnswerLostError,
    AuthError,
    BadResponseError,
    NotFoundError,
    NotFoundPageError,
    RequestRejected,
    RetryableError,
)
from connectors.http import HttpClient
from connectors.mailchimp.client import MailchimpClient
from connectors.ratelimit import TokenBucket
from sandbox import start_sandbox
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


HTML_404 = (
    "<!DOCTYPE html><html><head><title>Not Found</title></head>"
    "<body><h1>Not Found</h1></body></html>"
)
MC_NOT_FOUND = (
    '{"type": "https://mailchimp.com/developer/marketing/docs/errors/", '
    '"title": "Resource Not Found", "status": 404, '
    '"detail": "The requested resource could not be found.", "instance": "a1b2"}'
)
PROBLEM_JSON = "application/problem+json; charset=utf-8"
MEMBER = "lists/abc/members/5d41402abc4b2a76b9719d911017c592"


def mailchimp(url: str, **kwargs) -> MailchimpClient:
    return MailchimpClient("0123-us1", "abc", url, backoff_max=0.05, **kwargs)


def action_network(url: str, **kwargs) -> ActionNetworkClient:
    return ActionNetworkClient("key", url, requests_per_second=0, backoff_max=0.05, **kwargs)


def test_html_404_is_a_transient_fault_retried_like_a_5xx():
    with ScriptedServer() as server:
        server.then(404, HTML_404, "text/html").then(200, '{"ok": true}')
        http = client(server.url)
        assert http.request("GET", "people/0b9f1c3e-0000-4000-8000-000000000000") == {"ok": True}
        assert http.stats.retries == 1


def test_html_404_every_time_is_a_transient_error_not_a_missing_record():
    with ScriptedServer() as server:
        for _ in range(3):
            server.then(404, HTML_404, "text/html; charset=utf-8")
        with pytest.raises(NotFoundPageError) as caught:
            client(server.url, max_attempts=3).request("GET", "people")
        assert not isinstance(caught.value, NotFoundError), "never taken for a deletion"
        assert isinstance(caught.value, RetryableError)
        message = str(caught.value)
        assert "HTML page" in message and "transient" in message and "not a missing" in message
        assert len(server.requests) == 3


def test_mailchimps_own_not_found_is_believed_at_once():
    with ScriptedServer() as server:
        server.then(404, MC_NOT_FOUND, PROBLEM_JSON)
        with pytest.raises(NotFoundError, match="Resource Not Found"):
            mailchimp(server.url).get_member("5d41402abc4b2a76b9719d911017c592")
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    "status, body, ctype",
    [
        (404, HTML_404, "text/html"),
        (404, "", "text/plain"),
        (404, '{"error": "not found"}', "application/json"),  # JSON, but not Mailchimp's
    ],
    ids=["html", "empty", "other-json"],
)
def test_a_404_that_is_not_mailchimps_problem_json_is_retried(status, body, ctype):
    with ScriptedServer() as server:
        server.then(status, body, ctype).then(200, '{"id": "x"}')
        mc = mailchimp(server.url)
        assert mc.get_member("5d41402abc4b2a76b9719d911017c592") == {"id": "x"}
        assert mc.http.stats.retries == 1


def test_action_networks_json_error_is_not_found_and_its_html_page_is_transient():
    with ScriptedServer() as server:
        server.then(404, '{"error": "Could not find that record"}', "application/json")
        server.then(404, HTML_404, "text/html").then(200, '{"motd": "hi"}')
        an = action_network(server.url)
        with pytest.raises(NotFoundError) as caught:
            an.http.request("GET", "petitions/0b9f1c3e-0000-4000-8000-000000000000")
        assert "Could not find" not in str(caught.value), "its free text may name the id"
        assert an.entry_point() == {"motd": "hi"}
        assert len(server.requests) == 3


def test_cut_off_read_is_retried_then_reported_in_words():
    with ScriptedServer() as server:
        server.then(200, '{"members": [{"id": "a"', "application/json")
        server.then(200, '{"members": []}')
        assert client(server.url).request("GET", "members") == {"members": []}
    with ScriptedServer() as server:
        for _ in range(3):
            server.then(200, '{"members": [{"id": "a"', "application/json; charset=utf-8")
        with pytest.raises(BadResponseError) as caught:
            client(server.url, max_attempts=3).request("GET", "members")
        message = str(caught.value)
        assert "cut off or is not valid JSON" in message and "expected JSON" not in message
        assert caught.value.body.startswith(b'{"members"'), "what arrived is kept"


def test_non_json_body_is_retried_then_reported():
    with ScriptedServer() as server:
        for _ in range(3):
            server.then(200, "<html>maintenance</html>", "text/html")
        http = client(server.url, max_attempts=3)
        with pytest.raises(BadResponseError) as caught:
            http.request("GET", "people")
        assert "an HTML page" in str(caught.value)
        assert len(server.requests) == 3


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_cut_off_answer_to_a_write_is_a_lost_answer_and_not_resent(method):
    with ScriptedServer() as server:
        server.then(200, '{"id": "ab', "application/json").then(200, '{"id": "ab"}')
        with pytest.raises(AnswerLostError) as caught:
            client(server.url).request(method, "batches", json_body={"operations": []})
        assert len(server.requests) == 1, "a write that may have happened is not sent again"
        assert isinstance(caught.value, RetryableError)
        assert caught.value.method == method and caught.value.path == "/batches"
        assert "may have been applied" in str(caught.value)


def test_cut_off_answer_to_a_write_marked_idempotent_is_sent_again():
    method = "PATCH"
    with ScriptedServer() as server:
        server.then(200, '{"id": "ab', "application/json").then(200, '{"id": "ab"}')
        http = client(server.url)
        body = {"merge_fields": {}}
        assert http.request(method, MEMBER, json_body=body, idempotent=True) == {"id": "ab"}
        assert len(server.requests) == 2


def test_no_platform_write_is_resent_after_a_lost_answer():
    """The push settles a lost answer from the platform's state (sync_intents): the HTTP
    layer never sends a write twice, not even one that would change nothing."""
    cut = '{"id": "ab'
    with ScriptedServer() as server:
        writes = [
            lambda: mailchimp(server.url).set_member_tags(
                "5d41402abc4b2a76b9719d911017c592", {"a": True}
            ),
            lambda: mailchimp(server.url).update_merge_fields(
                "5d41402abc4b2a76b9719d911017c592", {"TIER": "x"}
            ),
            lambda: action_network(server.url).create_tag("groundswell:x"),
            lambda: action_network(server.url).add_tagging("t", "p"),
            lambda: mailchimp(server.url).submit_batch([]),
        ]
        for write in writes:
            server.then(200, cut)
            with pytest.raises(AnswerLostError):
                write()
        assert len(server.requests) == len(writes)


def test_a_server_error_after_a_write_arrived_is_a_lost_answer_not_a_resend():
    """A 500, 502 or 504 may come after the platform applied the write (a gateway timing
    out on a queued batch): the push settles it from the platform's state instead."""
    for status in (500, 502, 504):
        with ScriptedServer() as server:
            server.then(status).then(200, '{"id": "b1"}')
            with pytest.raises(AnswerLostError, match=f"server error {status}"):
                client(server.url).request("POST", "batches", json_body={})
            assert len(server.requests) == 1, "never sent twice"
    with ScriptedServer() as server:
        server.then(502).then(200, '{"ok": true}')
        assert client(server.url).request("GET", "batches") == {"ok": True}, "reads retry"


def test_writes_still_retry_server_errors_and_refused_connections():
    with ScriptedServer() as server:
        server.then(503).then(200, '{"ok": true}')
        assert client(server.url).request("POST", "batches", json_body={}) == {"ok": True}
    http = client("http://127.0.0.1:9", max_attempts=2)
    with pytest.raises(RetryableError) as caught:
        http.request("POST", "batches", json_body={})
    assert not isinstance(caught.value, AnswerLostError), "nothing was sent"
    assert http.stats.retries == 1


def test_a_write_that_times_out_after_arriving_is_a_lost_answer():
    with start_sandbox(people=50, seed=5, an_rate=0) as sb:
        env = sb.env
        mc = MailchimpClient(
            env["MAILCHIMP_API_KEY"],
            env["MAILCHIMP_LIST_ID"],
            env["MAILCHIMP_BASE_URL"],
            timeout=(2.0, 0.3),
            backoff_max=0.05,
        )
        sb.set_faults({"timeout_rate": 1.0, "stall_seconds": 0.8}, platform="mailchimp")
        with pytest.raises(AnswerLostError, match="answer was lost"):
            mc.submit_batch([{"method": "GET", "path": f"/lists/{mc.list_id}"}])
        assert mc.http.stats.requests == 1, "not sent twice"
        time.sleep(1.0)
        assert len(sb.mailchimp.batches) == 1, "the platform did apply the write"


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
        server.then(404, '{"error": "not found"}')
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
