"""Source assets: one per landing each platform declares (connectors/registry.py)."""

import dagster as dg

from connectors.errors import (
    AuthError,
    BadResponseError,
    NotFoundError,
    NotFoundPageError,
    PlatformError,
)
from connectors.platform import Platform, Source
from connectors.registry import PLATFORMS
from pipelines.resources import PlatformResource, open_warehouse

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


def _source_asset(declared: Platform, source: Source) -> dg.AssetsDefinition:
    """One landing of one platform: skipped when the platform has no key, failing with the
    settings to fix when they are wrong, counts (never personal data) in its metadata."""

    @dg.asset(
        name=source.asset,
        group_name="sources",
        kinds=set(declared.kinds),
        pool="warehouse",
        retry_policy=SOURCE_RETRY if source.retried else None,
        description=source.description,
        required_resource_keys={"warehouse", declared.name},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        platform: PlatformResource = getattr(context.resources, declared.name)
        if not platform.configured:
            return _skipped(context, declared.title, str(declared.secret))
        try:
            client = platform.client()
            with open_warehouse(context.resources.warehouse) as con:
                result = source.land(
                    con, client, context.run.run_id, context.log, platform.settings
                )
        except PlatformError as exc:
            raise _platform_failure(exc, declared.named_in_failures) from None
        stats = getattr(getattr(client, "http", None), "stats", None)
        return _landed(context, source.asset, result, stats.as_dict() if stats else {})

    return _asset


SOURCE_ASSETS = [
    _source_asset(declared, source) for declared in PLATFORMS for source in declared.sources
]
