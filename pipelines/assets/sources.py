"""Source assets: land raw records from each platform and the forms inbox."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from connectors.errors import (
    AuthError,
    BadResponseError,
    NotFoundError,
    NotFoundPageError,
    PlatformError,
)
from connectors.mailchimp import MailchimpClient
from pipelines import landing
from pipelines.resources import (
    ActionNetworkResource,
    GroundswellSettings,
    MailchimpResource,
    open_warehouse,
)

# Transient faults are already retried request by request; this covers a whole outage.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def _skipped(
    context: dg.AssetExecutionContext, platform: str, variable: str
) -> dg.MaterializeResult:
    context.log.info(f"{platform}: {variable} is not set, so {platform} is skipped this run.")
    return dg.MaterializeResult(metadata={"skipped": True, "records": 0})


def _platform_failure(exc: PlatformError, variables: str) -> dg.Failure:
    """A failure that names the setting to fix; a bad key is not worth retrying, and only
    a platform's own JSON "not found" points at a setting."""
    if isinstance(exc, AuthError):
        hint = f"The key was refused: check {variables} in .env (or the environment)."
    elif isinstance(exc, NotFoundError):
        hint = (
            f"The platform itself says this does not exist: check {variables} "
            "(a wrong list id or base URL answers 404)."
        )
    elif isinstance(exc, NotFoundPageError):
        hint = (
            "This is a transient fault, retried and still failing; nothing landed is lost "
            "and the next run resumes from the last cursor. If every run stops here, check "
            f"that the base URL in {variables} points at the platform's API."
        )
    elif isinstance(exc, BadResponseError):
        hint = (
            "The answer kept arriving cut off or unreadable after retries; what arrived is "
            "kept in the quarantine table and the next run asks for that page again."
        )
    else:
        hint = "The platform kept failing after retries; the next run resumes from the last cursor."
    return dg.Failure(
        description=f"{exc} {hint}",
        allow_retries=not isinstance(exc, AuthError | NotFoundError),
    )


AN_SETTINGS = "ACTION_NETWORK_API_KEY and ACTION_NETWORK_BASE_URL"
MC_SETTINGS = "MAILCHIMP_API_KEY, MAILCHIMP_LIST_ID and MAILCHIMP_BASE_URL"


def _land(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    variables: str,
    land: Callable[[duckdb.DuckDBPyConnection], dict[str, object]],
) -> dict[str, object]:
    """Run one landing, turning platform errors into failures that name the settings."""
    try:
        with open_warehouse(warehouse) as con:
            return land(con)
    except PlatformError as exc:
        raise _platform_failure(exc, variables) from None


def _landed(
    context: dg.AssetExecutionContext,
    name: str,
    result: dict[str, object],
    request_stats: dict[str, int],
) -> dg.MaterializeResult:
    """Log the counts landed and return them, with the request counts, as metadata."""
    summary = ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int))
    context.log.info(f"{name}: {summary}")
    return dg.MaterializeResult(metadata={**result, **request_stats})


def _action_network_asset(
    name: str,
    description: str,
    land: Callable[..., Any],
    counts: Callable[[Any], dict[str, object]],
) -> dg.AssetsDefinition:
    """One Action Network source: skipped without a key, failing with the settings to fix
    on a refused key, counts (never personal data) in its metadata."""

    @dg.asset(
        name=name,
        group_name="sources",
        kinds={"python", "duckdb"},
        pool="warehouse",
        retry_policy=SOURCE_RETRY,
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        warehouse: DuckDBResource,
        action_network: ActionNetworkResource,
    ) -> dg.MaterializeResult:
        if not action_network.configured:
            return _skipped(context, "Action Network", "ACTION_NETWORK_API_KEY")
        client = action_network.client()
        result = _land(
            context,
            warehouse,
            AN_SETTINGS,
            lambda con: counts(land(con, client, context.run.run_id, context.log.info)),
        )
        return _landed(context, name, result, client.http.stats.as_dict())

    return _asset


action_network_people = _action_network_asset(
    "action_network_people",
    "Action Network people landed raw; full first, then by modified_date.",
    landing.land_action_network_people,
    lambda report: report.metadata(),
)
action_network_actions = _action_network_asset(
    "action_network_actions",
    "Petitions, events, forms, fundraising pages, advocacy campaigns and the signatures, "
    "attendances, submissions, donations and outreaches on them.",
    landing.land_action_network_actions,
    lambda reports: {name: report.records for name, report in reports.items()},
)
action_network_tags = _action_network_asset(
    "action_network_tags",
    "Action Network tags with their taggings, lists and custom field names, read whole "
    "each run (the API has no change filter for them).",
    landing.land_action_network_whole,
    dict,
)


def _mailchimp_asset(
    name: str,
    description: str,
    land: Callable[
        [duckdb.DuckDBPyConnection, MailchimpClient, str, Callable, MailchimpResource], Any
    ],
) -> dg.AssetsDefinition:
    """One Mailchimp source: skipped without a key, failing with the settings to fix on a
    refused key or a missing list id, counts (never personal data) in its metadata."""

    @dg.asset(
        name=name,
        group_name="sources",
        kinds={"python", "duckdb"},
        pool="warehouse",
        retry_policy=SOURCE_RETRY,
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        warehouse: DuckDBResource,
        mailchimp: MailchimpResource,
    ) -> dg.MaterializeResult:
        if not mailchimp.configured:
            return _skipped(context, "Mailchimp", "MAILCHIMP_API_KEY")
        if not mailchimp.list_id:
            raise dg.Failure(
                description="Mailchimp: MAILCHIMP_LIST_ID is not set; set it to the audience id "
                "(Audience > Settings > Audience name and defaults).",
                allow_retries=False,
            )
        try:
            client = mailchimp.client()
        except PlatformError as exc:
            raise _platform_failure(exc, MC_SETTINGS) from None
        result = _land(
            context,
            warehouse,
            MC_SETTINGS,
            lambda con: land(con, client, context.run.run_id, context.log.info, mailchimp),
        )
        return _landed(context, name, result, client.http.stats.as_dict())

    return _asset


def _members(con, client, batch_id, log, mailchimp: MailchimpResource) -> dict[str, object]:
    report = landing.land_mailchimp_members(con, client, batch_id, log).metadata()
    reconciled = landing.reconcile_mailchimp_members(
        con, client, batch_id, log, every=timedelta(days=mailchimp.reconcile_days)
    )
    return {**report, **reconciled}


def _campaigns(con, client, batch_id, log, mailchimp: MailchimpResource) -> dict[str, object]:
    reports = landing.land_mailchimp_campaigns(
        con, client, batch_id, log, activity_days=mailchimp.activity_days
    )
    return {
        "campaigns": reports["campaigns"].records,
        "activity_events": reports["email_activity"].records,
        "pages": sum(r.pages for r in reports.values()),
        "mode": reports["campaigns"].metadata()["mode"],
    }


mailchimp_members = _mailchimp_asset(
    "mailchimp_members",
    "Mailchimp audience members of every status, landed raw; incremental by last_changed, "
    "with a periodic reconciliation that marks permanently deleted members as deleted.",
    _members,
)
mailchimp_audience = _mailchimp_asset(
    "mailchimp_audience",
    "Mailchimp audiences, merge fields and tags, read whole each run.",
    lambda con, client, batch_id, log, _: landing.land_mailchimp_audience(con, client, batch_id),
)
mailchimp_campaigns = _mailchimp_asset(
    "mailchimp_campaigns",
    "Sent Mailchimp campaigns and their email activity (opens, clicks, bounces), each "
    "campaign read from its own bookmark.",
    _campaigns,
)


@dg.asset(
    group_name="sources",
    kinds={"python", "duckdb", "csv"},
    pool="warehouse",
    description="Every CSV form export in FORMS_INBOX, loaded once by content hash.",
)
def form_exports(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    inbox = Path(groundswell.forms_inbox)
    if not inbox.is_dir():
        context.log.info(f"Forms inbox {inbox} does not exist; no form exports this run.")
    try:
        column_maps = groundswell.column_maps()
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    with open_warehouse(warehouse) as con:
        report = landing.land_form_exports(
            con, inbox, context.run.run_id, context.log.info, context.log.warning, column_maps
        )
    return dg.MaterializeResult(metadata=report.metadata())
