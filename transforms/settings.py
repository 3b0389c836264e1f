"""The transforms' settings: the config files they read, where exports go, and the region
phone numbers without a country code belong to."""

from __future__ import annotations

from typing import Annotated

import phonenumbers

from warehouse.env_settings import EnvSettings, choice


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
