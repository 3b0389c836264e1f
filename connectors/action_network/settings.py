"""Action Network's settings, each with its default and its check."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from connectors.action_network.client import DEFAULT_BASE_URL
from connectors.setting_checks import api_key, base_url
from warehouse.env_settings import EnvSettings, number


class ActionNetworkSettings(EnvSettings):
    """One Action Network group (Settings > API & Sync; API keys are a partner feature)."""

    ACTION_NETWORK_API_KEY: Annotated[str, api_key(), Field(repr=False)] = (
        ""  # unset: the platform is skipped
    )
    ACTION_NETWORK_BASE_URL: Annotated[
        str, base_url("https://actionnetwork.org/api/v2 (the default)")
    ] = DEFAULT_BASE_URL
    # Action Network allows 4 requests a second per key.
    ACTION_NETWORK_RATE: Annotated[
        float, number("Action Network requests per second, 0: no limit", 0, 1000, whole=False)
    ] = 4
