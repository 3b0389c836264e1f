"""The SQL each platform adds to the shared build: its staging view and its activities,
registered here by `connectors/registry.py` when it is imported. The staging and activities
steps run what is registered without knowing which platforms exist (transforms/ never
imports a platform)."""

from __future__ import annotations

from pathlib import Path

_STAGING: dict[str, Path] = {}
_ACTIVITIES: dict[str, Path] = {}


class NoPlatformsError(RuntimeError):
    """Nothing registered a platform: the build would stage nothing."""


def register_staging(platform: str, path: Path) -> None:
    """A platform's staging SQL: a step file that writes the view `stage.stg_<platform>`."""
    _STAGING[platform] = Path(path)


def register_activities(platform: str, path: Path) -> None:
    """A platform's activities SQL: a step file that writes `stage.activities_<platform>`
    (and, when it has them, `stage.referral_candidates_<platform>`,
    `stage.referral_claims_<platform>` and `stage.activity_stats_<platform>`)."""
    _ACTIVITIES[platform] = Path(path)


def staging_files() -> dict[str, Path]:
    """Each registered platform's staging SQL, in registration order."""
    if not _STAGING:
        raise NoPlatformsError(
            "No platform is registered, so there is nothing to stage: import "
            "connectors.registry (the pipeline, the benchmarks and the tests do) before "
            "building the warehouse."
        )
    return dict(_STAGING)


def activities_files() -> dict[str, Path]:
    """Each registered platform's activities SQL, in registration order (a platform without
    one contributes only the rules every platform shares)."""
    if not _STAGING:
        staging_files()  # raises: nothing is registered at all
    return dict(_ACTIVITIES)
