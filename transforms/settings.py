"""The transforms' settings: the config files they read, where exports go, and the region
phone numbers without a country code belong to."""

from __future__ import annotations

from typing import Annotated

import phonenumbers

from warehouse.env_settings import EnvSettings, choice, number


def _region_message(name: str, text: str) -> str:
    return f"{name}={text!r} is not a two-letter country code: use one like US, GB or DE."


class TransformSettings(EnvSettings):
    """Config files and outputs of the transforms."""

    EXPORTS_DIR: str = "data/exports"  # rewritten on every run
    LADDER_CONFIG: str = "ladder.yaml"
    IDENTITY_CONFIG: str = "identity.yaml"  # optional: all defaults when absent
    TEAMS_CONFIG: str = "teams.yaml"  # optional: no teams when absent
    DEFAULT_PHONE_REGION: Annotated[
        str, choice(lambda text: text.upper() in phonenumbers.SUPPORTED_REGIONS, _region_message)
    ] = "US"
    # Data checks (pipelines/checks.py): what counts as a sudden change that means bad input.
    CHECK_FETCH_DROP_SHARE: Annotated[
        float,
        number(
            "the share of the recent median a source may fall to before it warns", 0, 1, whole=False
        ),
    ] = 0.5
    CHECK_FRESHNESS_HOURS: Annotated[
        float,
        number("hours since a source's last good landing before it fails", 1, 24 * 90, whole=False),
    ] = 26
    CHECK_QUARANTINE_SHARE: Annotated[
        float, number("the share of rows read a run may quarantine, 0-1", 0, 1, whole=False)
    ] = 0.05
    CHECK_PEOPLE_DROP_SHARE: Annotated[
        float,
        number("the share of people a run may lose before pushes stop, 0-1", 0, 1, whole=False),
    ] = 0.2
    CHECK_MERGE_SHARE: Annotated[
        float,
        number("the share of people a run may merge before pushes stop, 0-1", 0, 1, whole=False),
    ] = 0.05
    CHECK_RUNG_CHANGE_SHARE: Annotated[
        float,
        number("the share of the ladder that may change rung in one run, 0-1", 0, 1, whole=False),
    ] = 0.25
