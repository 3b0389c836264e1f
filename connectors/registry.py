"""The platforms Groundswell reads and writes: one line each. Sources, staging, activities,
pushes and their Dagster assets are built from these declarations, in this order."""

from __future__ import annotations

from connectors import action_network, forms, mailchimp
from connectors.platform import Platform
from warehouse import platform_sql

PLATFORMS: tuple[Platform, ...] = (
    action_network.PLATFORM,
    mailchimp.PLATFORM,
    forms.PLATFORM,
)

for _declared in PLATFORMS:
    platform_sql.register_title(_declared.name, _declared.title)
    for _role, _path in _declared.sql_files().items():
        platform_sql.register(_role, _declared.name, _path)


def platform(name: str) -> Platform:
    """The platform declared under this name."""
    for declared in PLATFORMS:
        if declared.name == name:
            return declared
    raise KeyError(f"no platform named {name!r}; known: {', '.join(p.name for p in PLATFORMS)}")
