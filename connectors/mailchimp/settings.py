"""Mailchimp's settings, each with its default and its check."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import Field

from connectors.errors import PlatformError
from connectors.mailchimp.client import base_url_for_key
from connectors.setting_checks import api_key, base_url
from warehouse.env_settings import EnvSettings, given, number


class MailchimpSettings(EnvSettings):
    """One Mailchimp audience (Account > Extras > API keys; the key ends in its data centre)."""

    MAILCHIMP_API_KEY: Annotated[str, api_key(), Field(repr=False)] = (
        ""  # unset: the platform is skipped
    )
    MAILCHIMP_LIST_ID: str = ""  # the audience id; needed with a key
    # Empty: derived from the key's data centre, https://<dc>.api.mailchimp.com/3.0
    MAILCHIMP_BASE_URL: Annotated[
        str, base_url("https://us6.api.mailchimp.com/3.0, or leave it empty")
    ] = ""
    MAILCHIMP_MAX_CONNECTIONS: Annotated[
        int, number("how many connections to Mailchimp at once, 1-10", 1, 10)
    ] = 8
    MAILCHIMP_ACTIVITY_DAYS: Annotated[
        int, number("how many days a campaign's activity is read", 0, 3650)
    ] = 30
    MAILCHIMP_RECONCILE_DAYS: Annotated[
        float, number("how many days between full member checks", 0, 3650, whole=False)
    ] = 7

    @classmethod
    def joint_problems(cls) -> Iterator[str]:
        """A key needs its audience, and a data-centre suffix unless the URL is given."""
        key = given("MAILCHIMP_API_KEY")
        if not key:
            return
        if not given("MAILCHIMP_LIST_ID"):
            yield (
                "MAILCHIMP_LIST_ID is not set while MAILCHIMP_API_KEY is: set it to the "
                "audience id (Audience > Settings > Audience name and defaults)."
            )
        if not given("MAILCHIMP_BASE_URL"):
            try:
                base_url_for_key(key)
            except PlatformError:
                yield (
                    "MAILCHIMP_API_KEY has no data-centre suffix (a Mailchimp key ends like "
                    "-us6): copy the whole key from Account > Extras > API keys, or set "
                    "MAILCHIMP_BASE_URL."
                )
