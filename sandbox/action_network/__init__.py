"""A simulated Action Network (OSDI v2, HAL+JSON) with the real API's quirks: the people
collection has no totals, is not ordered by modified date, and links a `next` page even
past the end; unknown ids answer with an HTML page.

By concern: `shapes` (the JSON it answers), `state` and `writes` (the data in memory and
its changes), `guards` (the lookups every route shares), the route groups (`people`,
`objects`, `organising`) and `server` (the route table, the API key and the rate limit)."""

from __future__ import annotations

from sandbox.action_network.server import ActionNetworkServer
from sandbox.action_network.shapes import PREFIX, action_json, iso, object_json, person_json
from sandbox.action_network.state import ActionNetworkState

__all__ = [
    "PREFIX",
    "ActionNetworkServer",
    "ActionNetworkState",
    "action_json",
    "iso",
    "object_json",
    "person_json",
]
