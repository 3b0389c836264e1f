"""The segment keys the ladder writes and the sync ledger keeps: `tier:<rung>` for a rung,
`list:<name>` for an activation list. A pushed tag is the namespace plus the key."""

from __future__ import annotations

TIER_PREFIX = "tier:"
LIST_PREFIX = "list:"
# SQL LIKE patterns matching every tier key, every list key.
TIER_LIKE = TIER_PREFIX + "%"
LIST_LIKE = LIST_PREFIX + "%"


def tier_segment(rung: str) -> str:
    """The segment key of a rung, e.g. `tier:activist`."""
    return TIER_PREFIX + rung


def list_segment(name: str) -> str:
    """The segment key of an activation list, e.g. `list:welcome_new`."""
    return LIST_PREFIX + name
