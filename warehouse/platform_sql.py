"""The SQL each platform adds to the shared build, by role: its staging view, its activities,
and (when it has them) the contacts erasure compares, the purge of its raw rows, its consent
status history and its destination state. `connectors/registry.py` registers every
`connectors/<platform>/<role>.sql` that exists when it is imported; the shared steps run what
is registered without knowing which platforms exist (transforms/ never imports a platform).
`transforms/platform_parts.py` runs a role's files and unions what they write."""

from __future__ import annotations

from pathlib import Path

# role -> what its file writes (`<part>_<platform>` in the stage schema, or raw rows).
ROLES: dict[str, str] = {
    "staging": "the view stage.stg_<platform>: its records in the shared staging columns",
    "activities": "stage.activities_<platform> (and referral candidates, claims and stats)",
    "contacts": "the views stage.contacts_<platform> (every address, phone and record key its "
    "raw rows carry, with when each landed) and stage.landed_<platform> (its latest landing)",
    "purge": "deletes its raw rows of the records in stage.purge_records and the rows that "
    "point at them",
    "status_history": "stage.status_history_<platform>: each landed version's consent status",
    "destination": "stage.destination_seen_<platform> and the other parts of what it held when "
    "last read (transforms/destinations.py PARTS); a platform with it is a sync destination",
}
REQUIRED = ("staging",)
_FILES: dict[str, dict[str, Path]] = {role: {} for role in ROLES}
# platform -> its name for people (messages, the run summary); filled in by `register_title`.
TITLES: dict[str, str] = {}


class NoPlatformsError(RuntimeError):
    """Nothing registered a platform: the build would stage nothing."""


def register(role: str, platform: str, path: Path) -> None:
    """A platform's SQL for `role` (a step file whose header names what it reads and writes)."""
    if role not in ROLES:
        raise ValueError(f"{path}: no platform SQL role {role!r}; known: {', '.join(ROLES)}")
    _FILES[role][platform] = Path(path)


def register_title(platform: str, title: str) -> None:
    """The platform's name for people ("Action Network" for action_network)."""
    TITLES[platform] = title


def files(role: str) -> dict[str, Path]:
    """Each registered platform's SQL for `role`, in registration order (a platform without
    one takes no part in that role)."""
    if not _FILES["staging"]:
        raise NoPlatformsError(
            "No platform is registered, so there is nothing to stage: import "
            "connectors.registry (the pipeline, the benchmarks and the tests do) before "
            "building the warehouse."
        )
    return dict(_FILES[role])


def staging_files() -> dict[str, Path]:
    """Each registered platform's staging SQL, in registration order."""
    return files("staging")


def activities_files() -> dict[str, Path]:
    """Each registered platform's activities SQL, in registration order."""
    return files("activities")
