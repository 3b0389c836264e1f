"""Source assets: land raw records from each platform and the forms inbox."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from connectors.errors import AuthError, NotFoundError, PlatformError
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
    """A failure that names the setting to fix; a bad key is not worth retrying."""
    if isinstance(exc, AuthError):
        hint = f"The key was refused: check {variables} in .env (or the environment)."
    elif isinstance(exc, NotFoundError):
        hint = f"Not found: check {variables} (a wrong list id or base URL answers 404)."
    else:
        hint = "The platform kept failing after retries; the next run resumes from the last cursor."
    return dg.Failure(
        description=f"{exc} {hint}",
        allow_retries=not isinstance(exc, AuthError | NotFoundError),
    )


@dg.asset(
    group_name="sources",
    kinds={"python", "duckdb"},
    pool="warehouse",
    retry_policy=SOURCE_RETRY,
    description="Action Network people landed raw; full first, then by modified_date.",
)
def action_network_people(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    action_network: ActionNetworkResource,
) -> dg.MaterializeResult:
    if not action_network.configured:
        return _skipped(context, "Action Network", "ACTION_NETWORK_API_KEY")
    client = action_network.client()
    try:
        with open_warehouse(warehouse) as con:
            report = landing.land_action_network_people(
                con, client, context.run.run_id, context.log.info
            )
    except PlatformError as exc:
        raise _platform_failure(exc, "ACTION_NETWORK_API_KEY and ACTION_NETWORK_BASE_URL") from None
    context.log.info(
        f"Action Network people: {report.records} records in {report.pages} pages "
        f"({report.seconds:.1f}s, {client.http.stats.retries} retries)"
    )
    return dg.MaterializeResult(metadata={**report.metadata(), **client.http.stats.as_dict()})


@dg.asset(
    group_name="sources",
    kinds={"python", "duckdb"},
    pool="warehouse",
    retry_policy=SOURCE_RETRY,
    description="Mailchimp audience members of every status, landed raw; incremental by last_changed.",
)
def mailchimp_members(
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
        with open_warehouse(warehouse) as con:
            report = landing.land_mailchimp_members(
                con, client, context.run.run_id, context.log.info
            )
    except PlatformError as exc:
        raise _platform_failure(
            exc, "MAILCHIMP_API_KEY, MAILCHIMP_LIST_ID and MAILCHIMP_BASE_URL"
        ) from None
    context.log.info(
        f"Mailchimp members: {report.records} records in {report.pages} pages ({report.seconds:.1f}s)"
    )
    return dg.MaterializeResult(metadata={**report.metadata(), **client.http.stats.as_dict()})


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
    with open_warehouse(warehouse) as con:
        report = landing.land_form_exports(
            con, inbox, context.run.run_id, context.log.info, context.log.warning
        )
    return dg.MaterializeResult(metadata=report.metadata())
