"""Action Network (OSDI v2, HAL+JSON) client: people, tags and the person signup helper."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests

from connectors.http import HttpClient, json_error
from connectors.paging import pipelined_pages
from connectors.ratelimit import TokenBucket

PLATFORM = "Action Network"
# Each collection of organising objects and the actions people take on them.
ACTION_RESOURCES = {
    "petitions": "signatures",
    "events": "attendances",
    "forms": "submissions",
    "fundraising_pages": "donations",
    "advocacy_campaigns": "outreaches",
}
DEFAULT_BASE_URL = "https://actionnetwork.org/api/v2"
MAX_PER_PAGE = 25


def is_not_found(response: requests.Response, body: Any) -> bool:
    """Action Network's own "not found": a JSON body with an `error`. Its HTML 404 page
    is served for unknown ids and transient faults alike, so it proves nothing."""
    return json_error(response, body) and "error" in body


def person_uuid(record: dict[str, Any]) -> str | None:
    """The Action Network uuid from a resource's `identifiers` list."""
    for identifier in record.get("identifiers") or []:
        if identifier.startswith("action_network:"):
            return identifier.split(":", 1)[1]
    return None


def uuid_from_href(href: str) -> str:
    """The last path segment of a HAL link (taggings carry only links)."""
    return href.rstrip("/").rsplit("/", 1)[-1]


def modified_filter(since: datetime) -> str:
    """OData filter on modified_date; Action Network takes `filter`, without a `$`."""
    return f"modified_date gt '{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"


class ActionNetworkClient:
    """One key reaches one group's data; every request shares the key's rate limit."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        requests_per_second: float = 4.0,
        max_attempts: int = 6,
        backoff_max: float = 30.0,
        timeout: tuple[float, float] = (10.0, 120.0),
        expected_latency: float = 0.4,
    ) -> None:
        self.requests_per_second = requests_per_second
        self.expected_latency = expected_latency
        self.http = HttpClient(
            PLATFORM,
            base_url or DEFAULT_BASE_URL,
            headers={"OSDI-API-Token": api_key, "Content-Type": "application/json"},
            # Evenly spaced, no bursts: the platform's own burst allowance then absorbs
            # network jitter instead of answering 429.
            rate_limiter=TokenBucket(requests_per_second, burst=1),
            max_attempts=max_attempts,
            backoff_max=backoff_max,
            timeout=timeout,
            is_not_found=is_not_found,
        )

    def entry_point(self) -> dict[str, Any]:
        """The API root; a cheap way to check the key."""
        return self.http.request("GET", "")

    def iter_pages(
        self,
        path: str,
        embedded: str,
        *,
        modified_since: datetime | None = None,
        window: int | None = None,
        first_page: int = 1,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a collection, several requests in flight within the rate limit.
        The people collection has no totals and always links a `next` page, so the only
        reliable end there is an empty page; other collections say how many pages."""
        params: dict[str, Any] = {"per_page": MAX_PER_PAGE}
        if modified_since is not None:
            params["filter"] = modified_filter(modified_since)

        def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
            body = self.http.request("GET", path, params={**params, "page": page}) or {}
            records = (body.get("_embedded") or {}).get(embedded) or []
            total = body.get("total_pages")
            return records, int(total) if total is not None else None

        yield from pipelined_pages(fetch, window or self.window, first_page)

    @property
    def window(self) -> int:
        """Requests in flight: enough to cover the round trip at the rate limit, few
        enough that an open-ended collection spends little past its end."""
        if self.requests_per_second <= 0:
            return 4
        return max(2, min(8, math.ceil(self.requests_per_second * self.expected_latency) + 1))

    def iter_people_pages(
        self, modified_since: datetime | None = None, first_page: int = 1
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of people, changed since `modified_since` when given."""
        return self.iter_pages(
            "people", "osdi:people", modified_since=modified_since, first_page=first_page
        )

    def list_tags(self) -> list[dict[str, Any]]:
        """Every tag of the group."""
        return [tag for page in self.iter_pages("tags", "osdi:tags") for tag in page]

    def iter_taggings(self, tag_id: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of one tag's taggings; a tagging holds only links to the person and tag."""
        return self.iter_pages(f"tags/{tag_id}/taggings", "osdi:taggings")

    def custom_fields(self) -> list[dict[str, Any]]:
        """The group's custom field names (`metadata/custom_fields`)."""
        body = self.http.request("GET", "metadata/custom_fields") or {}
        return body.get("action_network:custom_fields") or []

    def create_tag(self, name: str) -> dict[str, Any]:
        """Create a tag (names are unique case-insensitively; an existing one is returned)."""
        return self.http.request("POST", "tags", json_body={"name": name})

    def signup(
        self,
        person: dict[str, Any],
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """The person signup helper: upserts by email, then phone. Never send a `status`
        here unless the person asked: it changes their subscription."""
        body: dict[str, Any] = {"person": person}
        if add_tags:
            body["add_tags"] = add_tags
        if remove_tags:
            body["remove_tags"] = remove_tags
        # An upsert by email: sending it twice leaves the same person and tags.
        return self.http.request("POST", "people", json_body=body)

    def add_tagging(self, tag_id: str, person_id: str) -> dict[str, Any]:
        """Tag one person by their Action Network id; returns the tagging (with its id)."""
        href = f"{self.http.base_url}/people/{person_id}"
        return self.http.request(
            "POST",
            f"tags/{tag_id}/taggings",
            json_body={"_links": {"osdi:person": {"href": href}}},
        )

    def delete_tagging(self, tag_id: str, tagging_id: str) -> None:
        """Untag; a lost answer is not resent here (a second DELETE answers 404)."""
        self.http.request("DELETE", f"tags/{tag_id}/taggings/{tagging_id}")

    def update_person(self, person_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change given fields of one person by id (never a subscription status)."""
        return self.http.request("PUT", f"people/{person_id}", json_body=fields)
