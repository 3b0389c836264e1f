"""Mailchimp Marketing API v3 client: audience members and member tags."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connectors.errors import PlatformError
from connectors.http import HttpClient
from connectors.paging import pipelined_pages

PLATFORM = "Mailchimp"
MAX_COUNT = 1000
MAX_CONNECTIONS = 10


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
        )

    def get_list(self) -> dict[str, Any]:
        """The audience itself; a cheap way to check the key and the list id."""
        return self.http.request("GET", f"lists/{self.list_id}")

    def iter_member_pages(
        self,
        since_last_changed: datetime | None = None,
        count: int | None = None,
        first_page: int = 1,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of members of every status, oldest change first. The first page gives
        the total; the rest are fetched over up to `max_connections` connections."""
        count = min(count or self.page_size, MAX_COUNT)
        params: dict[str, Any] = {
            "count": count,
            "sort_field": "last_changed",
            "sort_dir": "ASC",
            "exclude_fields": "members._links,_links",
        }
        if since_last_changed is not None:
            params["since_last_changed"] = since_last_changed.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        total: list[int] = []

        def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
            offset = (page - 1) * count
            body = (
                self.http.request(
                    "GET", f"lists/{self.list_id}/members", params={**params, "offset": offset}
                )
                or {}
            )
            if not total:
                total.append(int(body.get("total_items") or 0))
            return body.get("members") or [], max(1, -(-total[0] // count))

        yield from pipelined_pages(fetch, self.max_connections, first_page)

    def set_member_tags(
        self, member_id: str, tags: dict[str, bool], *, is_syncing: bool = True
    ) -> None:
        """Make tags active (True) or inactive (False) on one member. `is_syncing` keeps
        tag-triggered automations from firing."""
        body = {
            "tags": [
                {"name": name, "status": "active" if active else "inactive"}
                for name, active in tags.items()
            ],
            "is_syncing": is_syncing,
        }
        self.http.request("POST", f"lists/{self.list_id}/members/{member_id}/tags", json_body=body)
