"""Action Network (OSDI v2, HAL+JSON) client: people, tags and the person signup helper."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.http import HttpClient
from connectors.ratelimit import TokenBucket

PLATFORM = "Action Network"
DEFAULT_BASE_URL = "https://actionnetwork.org/api/v2"
MAX_PER_PAGE = 25


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
    ) -> None:
        self.http = HttpClient(
            PLATFORM,
            base_url or DEFAULT_BASE_URL,
            headers={"OSDI-API-Token": api_key, "Content-Type": "application/json"},
            # Evenly spaced, no bursts: the platform's own burst allowance then absorbs
            # network jitter instead of answering 429.
            rate_limiter=TokenBucket(requests_per_second, burst=1),
            max_attempts=max_attempts,
            backoff_max=backoff_max,
        )

    def entry_point(self) -> dict[str, Any]:
        """The API root; a cheap way to check the key."""
        return self.http.request("GET", "")

    def iter_people_pages(
        self, modified_since: datetime | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of people. The collection has no totals and always links a `next` page,
        so the only reliable end is an empty page."""
        params: dict[str, Any] = {"per_page": MAX_PER_PAGE}
        if modified_since is not None:
            params["filter"] = modified_filter(modified_since)
        page = 1
        while True:
            body = self.http.request("GET", "people", params={**params, "page": page})
            people = ((body or {}).get("_embedded") or {}).get("osdi:people") or []
            if not people:
                return
            yield people
            page += 1

    def list_tags(self) -> list[dict[str, Any]]:
        """Every tag of the group (collections other than people carry totals)."""
        tags: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.http.request("GET", "tags", params={"page": page, "per_page": MAX_PER_PAGE})
            batch = ((body or {}).get("_embedded") or {}).get("osdi:tags") or []
            tags.extend(batch)
            if not batch or page >= int(body.get("total_pages") or page):
                return tags
            page += 1

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
        return self.http.request("POST", "people", json_body=body)
