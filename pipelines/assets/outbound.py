"""Outbound assets: tier tags to Mailchimp, activation lists to organisers."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from connectors.errors import AuthError, NotFoundError
from pipelines.assets.engagement import _ladder_or_fail
from pipelines.push import push_mailchimp_tags
from pipelines.resources import GroundswellSettings, MailchimpResource, open_warehouse
from transforms.exports import write_list_exports
from transforms.ladder_config import LadderConfigError
from transforms.outbound import mailchimp_tier_plan
from warehouse.load import utcnow


@dg.asset(
    group_name="outbound",
    kinds={"python", "mailchimp"},
    pool="warehouse",
    deps=["ladder", "person_sources"],
    description="Each Mailchimp member's tier as a namespaced tag; only changes since the last push.",
)
def mailchimp_tier_tags(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    mailchimp: MailchimpResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    if not mailchimp.configured:
        context.log.info("Mailchimp: MAILCHIMP_API_KEY is not set, so no tags are pushed.")
        return dg.MaterializeResult(metadata={"skipped": True})
    config = _ladder_or_fail(groundswell)
    client = mailchimp.client()
    with open_warehouse(warehouse) as con:
        plan = mailchimp_tier_plan(con, config)
        context.log.info(
            f"Mailchimp tier tags: {plan['member_key'].nunique()} members to change "
            f"({int(plan['active'].sum())} tags to add, {int((~plan['active']).sum())} to remove)"
        )
        report = push_mailchimp_tags(con, client, plan, context.run.run_id, context.log.info)
    if (
        report.rejected
        and report.members == 0
        and report.rejection_titles.keys()
        & {
            AuthError.__name__,
            NotFoundError.__name__,
        }
    ):
        raise dg.Failure(
            description="Mailchimp refused every tag change: check MAILCHIMP_API_KEY and "
            "MAILCHIMP_LIST_ID.",
            allow_retries=False,
        )
    if report.rejected:
        context.log.warning(
            f"Mailchimp refused {report.rejected} tag changes: "
            + ", ".join(f"{t} x{n}" for t, n in report.rejection_titles.items())
            + " (kept in sync_rejections)"
        )
    return dg.MaterializeResult(metadata={**report.metadata(), **client.http.stats.as_dict()})


@dg.asset(
    group_name="outbound",
    kinds={"csv", "excel"},
    pool="warehouse",
    deps=["segment_members"],
    description="For every activation list, a CSV and an XLSX per group in EXPORTS_DIR, with "
    "an index.html; only the list's columns and people its channel may reach.",
)
def activation_exports(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    groundswell: GroundswellSettings,
) -> dg.MaterializeResult:
    config = _ladder_or_fail(groundswell)
    try:
        with open_warehouse(warehouse) as con:
            report = write_list_exports(con, config, Path(groundswell.exports_dir), utcnow())
    except LadderConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    rows = report.rows_per_list()
    groups = report.groups_per_list()
    for name, n in rows.items():
        context.log.info(f"List {name}: {n} rows in {groups[name]} group(s)")
    # Counts and file names only: never a person's data.
    return dg.MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in rows.items()},
            **{f"groups_{name}": n for name, n in groups.items()},
            "files_written": len(report.paths()) + 1,
            "folder": dg.MetadataValue.path(str(report.folder)),
            "index": dg.MetadataValue.path(str(report.folder / "index.html")),
            "files": dg.MetadataValue.json(report.paths()),
        }
    )
