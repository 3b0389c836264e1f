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
from pipelines.resources import DataCheckSettings, PlatformResource, open_warehouse
from transforms.data_checks import Landing, fetch_trend, quarantined_share, record_landing
from warehouse.load import utcnow

# Transient faults are already retried request by request; this covers a whole outage.
SOURCE_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


RECORDS_STEADY = "records_steady"
QUARANTINE_SHARE = "quarantine_within_share"
# Counts in a landing's result that are not records fetched.
NOT_RECORDS = {"pages", "seconds", "members_live", "members_deleted", "members_missing"}


def _skipped(
    context: dg.AssetExecutionContext, platform: str, variable: str
) -> dg.MaterializeResult:
    context.log.info(f"{platform}: {variable} is not set, so {platform} is skipped this run.")
    return dg.MaterializeResult(
        metadata={"skipped": True, "records": 0},
        check_results=[
            dg.AssetCheckResult(check_name=name, passed=True, metadata={"skipped": True})
            for name in (RECORDS_STEADY, QUARANTINE_SHARE)
        ],
    )


def records_of(result: dict[str, object]) -> int:
    """The records a landing fetched: its `records` or `rows_loaded` count, otherwise the
    sum of its counts per resource."""
    for key in ("records", "rows_loaded"):
        if isinstance(result.get(key), int):
            return int(result[key])
    return sum(
        int(v)
        for k, v in result.items()
        if isinstance(v, int) and not isinstance(v, bool) and k not in NOT_RECORDS
    )


def _check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            RECORDS_STEADY,
            asset=asset,
            description="Records fetched are at least CHECK_FETCH_DROP_SHARE of the median "
            "of this source's recent landings in the same mode (full, incremental or whole). "
            "A drop warns: a revoked key scope or an export that stopped looks like this.",
        ),
        dg.AssetCheckSpec(
            QUARANTINE_SHARE,
            asset=asset,
            description="Rows set aside in quarantine this landing are no more than "
            "CHECK_QUARANTINE_SHARE of the rows read.",
        ),
    ]


def _landing_checks(
    con, landing: Landing, quarantined: int, limits: DataCheckSettings
) -> list[dg.AssetCheckResult]:
    """This landing's records against its recent median, and its quarantined share."""
    trend = fetch_trend(con, landing.asset, landing.run_id)
    share = quarantined_share(landing.records, quarantined)
    dropped = trend.dropped(limits.fetch_drop_share)
    return [
        dg.AssetCheckResult(
            check_name=RECORDS_STEADY,
            passed=not dropped,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"{landing.asset} fetched {landing.records:,} record(s) ({landing.mode}), "
                f"under {limits.fetch_drop_share:.0%} of the median of its last "
                f"{trend.earlier} landings ({trend.median:,.0f}). Check the platform's key "
                "and its scopes, or the export feeding it."
                if dropped
                else None
            ),
            metadata={
                "records": landing.records,
                "mode": landing.mode,
                "recent_median": trend.median if trend.median is not None else -1,
                "earlier_landings": trend.earlier,
            },
        ),
        dg.AssetCheckResult(
            check_name=QUARANTINE_SHARE,
            passed=share <= limits.quarantine_share,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{landing.asset} quarantined {quarantined:,} of {landing.records + quarantined:,} "
                f"rows read ({share:.0%}; the limit is {limits.quarantine_share:.0%}, "
                "CHECK_QUARANTINE_SHARE). The quarantine table has each row's reason."
                if share > limits.quarantine_share
                else None
            ),
            metadata={"quarantined": quarantined, "share": round(share, 4)},
        ),
    ]


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
    checks: list[dg.AssetCheckResult],
) -> dg.MaterializeResult:
    """Log the counts landed and return them, with the request counts, as metadata."""
    summary = ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int))
    context.log.info(f"{name}: {summary}")
    for check in checks:
        if not check.passed:
            context.log.warning(check.description or check.check_name)
    return dg.MaterializeResult(metadata={**result, **request_stats}, check_results=checks)


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
        check_specs=_check_specs(source.asset),
        # Freshness is read before any source lands again this run.
        deps=["source_freshness"],
        required_resource_keys={"warehouse", "checks", declared.name},
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        platform: PlatformResource = getattr(context.resources, declared.name)
        if not platform.configured:
            return _skipped(context, declared.title, str(declared.secret))
        started = utcnow()
        try:
            client = platform.client()
            with open_warehouse(context.resources.warehouse) as con:
                result = source.land(
                    con, client, context.run.run_id, context.log, platform.settings
                )
                mode = result.get("mode")
                landing = Landing(
                    context.run.run_id,
                    source.asset,
                    declared.name,
                    mode if mode in ("full", "incremental") else "whole",
                    records_of(result),
                    started,
                    utcnow(),
                )
                quarantined = record_landing(con, landing)
                checks = _landing_checks(con, landing, quarantined, context.resources.checks)
        except PlatformError as exc:
            raise _platform_failure(exc, declared.named_in_failures) from None
        stats = getattr(getattr(client, "http", None), "stats", None)
        return _landed(context, source.asset, result, stats.as_dict() if stats else {}, checks)

    return _asset


SOURCE_ASSETS = [
    _source_asset(declared, source) for declared in PLATFORMS for source in declared.sources
]
