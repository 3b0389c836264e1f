"""Mailchimp Marketing API v3 client: the audience, its members, merge fields and tags,
sent campaigns and their email activity, and member tags."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import requests

from connectors.errors import PlatformError
from connectors.http import HttpClient, json_error
from connectors.paging import JsonPage, pipelined_pages

PLATFORM = "Mailchimp"
MAX_COUNT = 1000
MAX_CONNECTIONS = 10
NOT_FOUND_TITLE = "Resource Not Found"
UNSUBSCRIBE = {"status": "unsubscribed"}  # never any other status


def base_url_for_key(api_key: str) -> str:
    """`https://<dc>.api.mailchimp.com/3.0`, the data centre being the key's suffix."""
    _, _, dc = api_key.rpartition("-")
    if not dc or not dc.isalnum() or dc == api_key:
        raise PlatformError(
            PLATFORM,
            "the API key has no data-centre suffix (it should end like '-us6'); "
            "copy the whole key from Mailchimp, or set the base URL explicitly",
        )
    return f"https://{dc}.api.mailchimp.com/3.0"


def is_not_found(response: requests.Response, body: Any) -> bool:
    """Mailchimp's own "not found": application/problem+json titled "Resource Not Found".
    Any other 404 (an HTML page, a bare body) did not come from the API and says nothing
    about whether the resource exists."""
    return json_error(response, body) and body.get("title") == NOT_FOUND_TITLE


def mailchimp_time(moment: datetime) -> str:
    """ISO 8601 in UTC as Mailchimp's filters take it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def flatten_activity(campaign_id: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """One recipient's email-activity row as one record per event, each with a stable id
    (the same event read twice gets the same id)."""
    email_id = row.get("email_id") or subscriber_hash(row.get("email_address") or "")
    events = []
    for event in row.get("activity") or []:
        key = "|".join(str(event.get(k) or "") for k in ("action", "type", "timestamp", "url"))
        events.append(
            {
                "id": hashlib.md5(f"{campaign_id}|{email_id}|{key}".encode()).hexdigest(),
                "campaign_id": campaign_id,
                "list_id": row.get("list_id"),
                "email_id": email_id,
                "email_address": row.get("email_address"),
                **{k: event.get(k) for k in ("action", "type", "timestamp", "url")},
            }
        )
    return events


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


class MailchimpClient:
    """One audience (list) of one account; at most 10 connections per user."""

    def __init__(
        self,
        api_key: str,
        list_id: str,
        base_url: str | None = None,
        *,
        max_connections: int = 8,
        max_attempts: int = 6,
        backoff_max: float = 30.0,
        timeout: tuple[float, float] = (10.0, 120.0),
        page_size: int = MAX_COUNT,
    ) -> None:
        self.list_id = list_id
        self.page_size = min(page_size, MAX_COUNT)
        self.max_connections = max(1, min(max_connections, MAX_CONNECTIONS))
        self.http = HttpClient(
            PLATFORM,
            base_url or base_url_for_key(api_key),
            auth=("groundswell", api_key),
            pool_size=self.max_connections,
            max_attempts=max_attempts,
            backoff_max=backoff_max,
            timeout=timeout,
            is_not_found=is_not_found,
        )

    def get_list(self) -> dict[str, Any]:
        """The audience itself; a cheap way to check the key and the list id."""
        return self.http.request("GET", f"lists/{self.list_id}")

    def get_member(self, member_id: str) -> dict[str, Any]:
        """One member by subscriber hash; NotFoundError when Mailchimp says it does not
        exist (once is not proof: it is looked at again in a later run)."""
        return self.http.request(
            "GET", f"lists/{self.list_id}/members/{member_id}", params={"exclude_fields": "_links"}
        )

    def iter_member_pages(
        self,
        since_last_changed: datetime | None = None,
        count: int | None = None,
        first_page: int = 1,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of members of every status (archived included), oldest change first."""
        params: dict[str, Any] = {
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "exclude_fields": "members._links,_links",
        }
        if since_last_changed is not None:
            params["since_last_changed"] = mailchimp_time(since_last_changed)
        # A full pull is the whole audience: ask for a window of pages before the first
        # answers with the total (a handful of empty pages, once, if it is small).
        return self.iter_offset_pages(
            f"lists/{self.list_id}/members",
            "members",
            params,
            count,
            first_page,
            as_json=True,
            opening=self.max_connections if since_last_changed is None else 1,
        )

    def iter_member_ids(self) -> Iterator[list[str]]:
        """Every member id now in the audience, for reconciliation: the smallest response
        that still pages exactly."""
        params = {"fields": "members.id,total_items"}
        for page in self.iter_offset_pages(f"lists/{self.list_id}/members", "members", params):
            yield [m["id"] for m in page if m.get("id")]

    def iter_offset_pages(
        self,
        path: str,
        key: str,
        params: dict[str, Any] | None = None,
        count: int | None = None,
        first_page: int = 1,
        as_json: bool = False,
        opening: int = 1,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of any offset-paged collection (`key` names its array). The first page
        gives `total_items`; the rest are fetched over up to `max_connections`
        connections and yielded in order. `as_json`: each page a JsonPage, its body kept
        for landing (members: a full pull's main cost was encoding them again).
        `opening`: pages asked for before the first answers (see pipelined_pages)."""
        count = min(count or self.page_size, MAX_COUNT)
        base = {**(params or {}), "count": count}
        total: list[int] = []

        def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
            offset = (page - 1) * count
            answer = self.http.request(
                "GET", path, params={**base, "offset": offset}, keep_content=as_json
            )
            body, content = answer if as_json else (answer, b"")
            body = body or {}
            if not total:
                total.append(int(body.get("total_items") or 0))
            records = body.get(key) or []
            if as_json and records:
                records = JsonPage(records, content, key)
            return records, max(1, -(-total[0] // count))

        yield from pipelined_pages(fetch, self.max_connections, first_page, opening)

    def list_audiences(self) -> list[dict[str, Any]]:
        """Every audience (list) the key reaches, with its stats."""
        return self._all("lists", "lists", {"exclude_fields": "lists._links,_links"})

    def merge_fields(self) -> list[dict[str, Any]]:
        """The audience's merge fields (FNAME, PHONE, ...): their tags, names and types."""
        return self._all(
            f"lists/{self.list_id}/merge-fields",
            "merge_fields",
            {"exclude_fields": "merge_fields._links,_links"},
        )

    def tags(self) -> list[dict[str, Any]]:
        """Every tag on the audience (`tag-search` with no name lists them all)."""
        return self._all(f"lists/{self.list_id}/tag-search", "tags")

    def _all(self, path: str, key: str, params: dict[str, Any] | None = None) -> list[dict]:
        return [item for page in self.iter_offset_pages(path, key, params) for item in page]

    def iter_campaign_pages(
        self, since_send_time: datetime | None = None, first_page: int = 1
    ) -> Iterator[list[dict[str, Any]]]:
        """Sent campaigns to this audience, oldest first, sent after `since_send_time`."""
        params: dict[str, Any] = {
            "list_id": self.list_id,
            "status": "sent",
            "sort_field": "send_time",
            "sort_dir": "ASC",
            "exclude_fields": "campaigns._links,_links",
        }
        if since_send_time is not None:
            params["since_send_time"] = mailchimp_time(since_send_time)
        return self.iter_offset_pages("campaigns", "campaigns", params, first_page=first_page)

    def iter_email_activity(
        self, campaign_id: str, since: datetime | None = None, first_page: int = 1
    ) -> Iterator[list[dict[str, Any]]]:
        """One campaign's opens, clicks and bounces after `since`, one record per event:
        Mailchimp pages by recipient, each with a list of events; they are flattened here
        so each event can be kept and deduplicated on its own."""
        params: dict[str, Any] = {"exclude_fields": "emails._links,_links"}
        if since is not None:
            params["since"] = mailchimp_time(since)
        for page in self.iter_offset_pages(
            f"reports/{campaign_id}/email-activity", "emails", params, first_page=first_page
        ):
            yield [event for row in page for event in flatten_activity(campaign_id, row)]

    def set_member_tags(
        self, member_id: str, tags: dict[str, bool], *, is_syncing: bool = True
    ) -> None:
        """Make tags active (True) or inactive (False) on one member. `is_syncing` keeps
        tag-triggered automations from firing."""
        body = self.tags_body(tags, is_syncing=is_syncing)
        self.http.request("POST", self.tags_path(member_id), json_body=body)

    def tags_path(self, member_id: str) -> str:
        return f"lists/{self.list_id}/members/{member_id}/tags"

    def tags_body(self, tags: dict[str, bool], *, is_syncing: bool = True) -> dict[str, Any]:
        return {
            "tags": [
                {"name": name, "status": "active" if active else "inactive"}
                for name, active in tags.items()
            ],
            "is_syncing": is_syncing,
        }

    def update_merge_fields(self, member_id: str, merge_fields: dict[str, str]) -> None:
        """Change merge fields of an existing member only (PATCH never creates one and we
        never send a status)."""
        self.http.request(
            "PATCH",
            f"lists/{self.list_id}/members/{member_id}",
            json_body={"merge_fields": merge_fields},
        )

    def unsubscribe_member(self, member_id: str) -> None:
        """Set an existing member's status to `unsubscribed`: the one status Groundswell
        ever sends, to carry an opt-out a person made elsewhere (PATCH never creates)."""
        self.http.request(
            "PATCH", f"lists/{self.list_id}/members/{member_id}", json_body=dict(UNSUBSCRIBE)
        )

    def add_member(self, email: str, status_if_new: str) -> dict[str, Any]:
        """Create a member if the address is new (`status_if_new`, normally `pending` for
        double opt-in); an existing member is left as it is, never resubscribed."""
        return self.http.request(
            "PUT",
            f"lists/{self.list_id}/members/{subscriber_hash(email)}",
            json_body={"email_address": email, "status_if_new": status_if_new},
        )

    def submit_batch(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        """Queue operations ({method, path, body: JSON string, operation_id}) to run
        asynchronously on Mailchimp's side; poll `get_batch` until `finished`. Never resent
        on its own: a lost answer (AnswerLostError) may mean the batch was queued."""
        return self.http.request("POST", "batches", json_body={"operations": operations})

    def get_batch(self, batch_id: str) -> dict[str, Any]:
        return self.http.request("GET", f"batches/{batch_id}")

    def batch_results(self, url: str) -> list[dict[str, Any]]:
        """Each operation's outcome from a finished batch's gzipped tar of JSON arrays.
        The link is pre-signed: it is fetched without the API key."""
        try:
            response = requests.get(url, timeout=self.http.timeout)
        except requests.RequestException as exc:
            raise PlatformError(
                PLATFORM, f"batch results could not be read ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise PlatformError(
                PLATFORM,
                f"batch results could not be read (HTTP {response.status_code}); the link "
                "expires, so the batch's operations will be planned again",
                response.status_code,
            )
        results: list[dict[str, Any]] = []
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.endswith(".json"):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        results.extend(orjson.loads(handle.read()))
        return results
