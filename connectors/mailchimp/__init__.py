"""Mailchimp: one audience's members of every status, its merge fields and tags, and sent
campaigns' email activity; pushed to as namespaced tags and the tier merge field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import duckdb

from connectors.errors import PlatformError
from connectors.mailchimp import landing, push, reconcile
from connectors.mailchimp.client import MailchimpClient, base_url_for_key
from connectors.mailchimp.settings import MailchimpSettings
from connectors.platform import Logger, Platform, PlatformSettingError, Push, Source


def connect(secret: str, settings: Mapping[str, str]) -> MailchimpClient:
    """A client for one audience; the base URL defaults to the key's data centre."""
    typed = MailchimpSettings.of(settings)
    list_id = typed.MAILCHIMP_LIST_ID
    if not list_id:
        raise PlatformSettingError(
            "Mailchimp: MAILCHIMP_LIST_ID is not set; set it to the audience id "
            "(Audience > Settings > Audience name and defaults)."
        )
    base_url = typed.MAILCHIMP_BASE_URL
    if not base_url:
        try:
            base_url_for_key(secret)
        except PlatformError as exc:
            raise PlatformSettingError(f"{exc} (MAILCHIMP_API_KEY, MAILCHIMP_BASE_URL)") from None
    return MailchimpClient(
        secret,
        list_id,
        base_url or None,
        max_connections=typed.MAILCHIMP_MAX_CONNECTIONS,
    )


def _members(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    run_id: str,
    log: Logger,
    settings: Mapping[str, str],
) -> dict[str, object]:
    report = landing.land_mailchimp_members(con, client, run_id, log.info).metadata()
    every = timedelta(days=MailchimpSettings.of(settings).MAILCHIMP_RECONCILE_DAYS)
    reconciled = landing.reconcile_mailchimp_members(con, client, run_id, log.info, every=every)
    return {**report, **reconciled}


def _campaigns(
    con: duckdb.DuckDBPyConnection,
    client: MailchimpClient,
    run_id: str,
    log: Logger,
    settings: Mapping[str, str],
) -> dict[str, object]:
    days = MailchimpSettings.of(settings).MAILCHIMP_ACTIVITY_DAYS
    reports = landing.land_mailchimp_campaigns(con, client, run_id, log.info, activity_days=days)
    return {
        "campaigns": reports["campaigns"].records,
        "activity_events": reports["email_activity"].records,
        "pages": sum(r.pages for r in reports.values()),
        "mode": reports["campaigns"].metadata()["mode"],
    }


PLATFORM = Platform(
    name="mailchimp",
    title="Mailchimp",
    connect=connect,
    folder=Path(__file__).parent,
    settings_model=MailchimpSettings,
    secret="MAILCHIMP_API_KEY",
    named_in_failures="MAILCHIMP_API_KEY, MAILCHIMP_LIST_ID and MAILCHIMP_BASE_URL",
    kinds=frozenset({"python", "duckdb"}),
    sources=(
        Source(
            "mailchimp_members",
            "Mailchimp audience members of every status, landed raw; incremental by "
            "last_changed, with a periodic reconciliation that marks permanently deleted "
            "members as deleted.",
            _members,
        ),
        Source(
            "mailchimp_audience",
            "Mailchimp audiences, merge fields and tags, read whole each run.",
            lambda con, client, run_id, log, _: landing.land_mailchimp_audience(
                con, client, run_id
            ),
        ),
        Source(
            "mailchimp_campaigns",
            "Sent Mailchimp campaigns and their email activity (opens, clicks, bounces), each "
            "campaign read from its own bookmark.",
            _campaigns,
        ),
    ),
    push=Push(
        "Sends the plan's Mailchimp changes (namespaced tags, the tier merge field, new "
        "members where configured); only what changed since the last confirmed push.",
        send=lambda con, client, ops, sync, run_id, log: push.push_mailchimp(
            con, client, ops, sync.mailchimp, run_id, log
        ),
        settle=reconcile.reconcile_mailchimp,
    ),
)
