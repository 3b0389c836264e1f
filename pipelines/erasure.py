"""Forgetting a person everywhere Groundswell reached: Groundswell's tags and fields taken
off them on every platform, then every row about them deleted from the warehouse, the
exports rewritten without them, and only the hashes of their match keys left behind."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from connectors import registry
from connectors.push import NOT_FOUND, Log, PushReport
from pipelines.assets.outcomes import (
    finish_portal_erasures,
    forgotten_ids,
    intend_portal_erasure,
)
from pipelines.assets.portal import publish_portal, snapshot_path
from pipelines.resources import GroundswellSettings, PlatformResource, open_warehouse
from transforms.erasure import (
    Erasure,
    Target,
    email_hash,
    find,
    forget,
    is_placeholder,
    is_placeholder_phone,
    person_id_check,
    phone_hash,
)
from transforms.exports import ExportsFolderError, check_exports_dir, write_list_exports
from transforms.identity_review_files import write_review_file
from transforms.ladder_config import Ladder
from transforms.placeholders import DEFAULT_EMAILS, DEFAULT_PHONES
from transforms.sync_plan import PLATFORM_NAMES
from warehouse.forgotten import KeeperError
from warehouse.load import append, utcnow


class ErasureIncomplete(RuntimeError):
    """Groundswell's tags are not all off the person; nothing was deleted."""


@dataclass
class ForgetReport:
    people: int
    records: int
    platform: dict[str, PushReport]
    not_reached: list[str]  # platforms holding Groundswell items that are not configured
    nobody: str = ""  # how the identifier is named when it matched nobody

    def lines(self) -> list[str]:
        """What was done, in counts only."""
        if self.nobody:
            return [
                f"Forgot 0 person(s): nobody in the warehouse has {self.nobody}, so nothing "
                "was changed and no suppression was kept. Check it (a typo, another form of "
                "it) and run again."
            ]
        lines = [
            f"Forgot {self.people} person(s) and {self.records} source record(s); "
            "only hashes of their addresses and phones are kept, so they are not imported again."
        ]
        for destination, report in self.platform.items():
            lines.append(
                f"{destination}: {report.confirmed} of {report.operations} Groundswell tags and "
                f"fields removed, {report.rejected} refused"
            )
        for destination in self.not_reached:
            lines.append(
                f"{destination}: not configured here, so Groundswell's tags on this person "
                "there were left in place (forced)"
            )
        return lines


def forget_everywhere(
    con: duckdb.DuckDBPyConnection,
    target: str | Target,
    ladder: Ladder,
    exports_dir: Path,
    review_file: Path | None,
    clients: Mapping[str, Any],
    run_id: str,
    log: Log,
    force: bool = False,
    default_phone_region: str | None = None,
    placeholder_emails: Iterable[str] = DEFAULT_EMAILS,
    placeholder_phones: Iterable[str] = DEFAULT_PHONES,
) -> ForgetReport:
    """Take Groundswell's items off the person on every platform, then forget them. Stops
    before deleting anything when a platform could not be reached, unless `force`; changes
    nothing when the identifier matches nobody."""
    if isinstance(target, str):
        target = Target(email_hash=target)
    # The exports are rewritten after the deletion: refuse a folder Groundswell did not make
    # now, before anything is deleted or sent.
    check_exports_dir(Path(exports_dir).resolve())
    _refuse_placeholders(target, placeholder_emails, placeholder_phones, default_phone_region)
    found = find(con, target)
    if found.people == 0 and found.records == 0:
        return ForgetReport(0, 0, {}, [], nobody=target.what)
    if found.people > 1 and not force:
        # One address or mobile is one person after identity; more means a shared one.
        raise ErasureIncomplete(
            f"forget: {target.what} reaches {found.people} different people, so it is "
            "probably shared (a family or office address, a household phone). Nothing was "
            "deleted: check the people in the warehouse, then run with force (make forget "
            "... FORCE=1) to forget all of them, or forget each by PERSON_ID=."
        )
    return _forget_found(
        con,
        target,
        found,
        ladder,
        exports_dir,
        review_file,
        clients,
        run_id,
        log,
        force,
        default_phone_region,
    )


def _refuse_placeholders(
    target: Target,
    emails: Iterable[str],
    phones: Iterable[str],
    default_phone_region: str | None,
) -> None:
    """Refuse a placeholder address or phone: forgetting it would erase everyone who typed it."""
    if target.phone_hash and is_placeholder_phone(target.phone_hash, phones, default_phone_region):
        raise ErasureIncomplete(
            "forget: that phone number is a placeholder people type when they have none (see "
            "placeholders in identity.yaml); forgetting it would erase everyone who typed it "
            "and drop it from every later import. Nothing was deleted: forget the person by "
            "their own phone, email or PERSON_ID."
        )
    if target.email_hash and is_placeholder(target.email_hash, emails):
        raise ErasureIncomplete(
            "forget: that address is a placeholder people type when they have none (see "
            "placeholders in identity.yaml); forgetting it would erase everyone who typed it "
            "and drop it from every later import. Nothing was deleted: forget the person by "
            "their own address."
        )


def _forget_found(
    con: duckdb.DuckDBPyConnection,
    target: Target,
    found: Erasure,
    ladder: Ladder,
    exports_dir: Path,
    review_file: Path | None,
    clients: Mapping[str, Any],
    run_id: str,
    log: Log,
    force: bool,
    default_phone_region: str | None,
) -> ForgetReport:
    """Undo Groundswell's items on the platforms, then delete and suppress the people found."""
    reports: dict[str, PushReport] = {}
    not_reached = []
    for destination, rows in found.undo.groupby("destination"):
        client = clients.get(str(destination))
        push = registry.platform(str(destination)).push if client is not None else None
        if push is not None:
            reports[str(destination)] = push.send(con, client, rows, ladder.sync, run_id, log)
        else:
            not_reached.append(str(destination))
    # A contact already gone from a platform carries nothing more to remove.
    unfinished = not_reached + [
        d
        for d, r in reports.items()
        # A removal whose answer was lost is settled by the next run: not done yet.
        if r.rejected > r.rejection_titles.get(NOT_FOUND, 0) or r.unconfirmed
    ]
    if unfinished and not force:
        # Forgetting now would lose what is needed to take Groundswell's tags off later.
        raise ErasureIncomplete(
            "forget: Groundswell's tags could not all be taken off the person on "
            f"{', '.join(PLATFORM_NAMES.get(d, d) for d in unfinished)} (not configured here, "
            "refused: see sync_rejections, or the platform's answer was lost), so nothing was "
            "deleted. Set the platform's key if it is missing and run again, or run with force "
            "(make forget EMAIL=... FORCE=1, or PHONE= or PERSON_ID=) to delete "
            "them from the warehouse anyway and leave those tags in place."
        )
    now = utcnow()
    portal_ids = forgotten_ids(con)  # before the registry linking their old ids goes
    # Intended first: a forget stopped after the warehouse is finished by the next run.
    intend_portal_erasure(con, portal_ids, now)
    forget(con, target, now, default_phone_region)
    # What organisers recorded about them leaves the portal's own store too (when it exists).
    finish_portal_erasures(con)
    write_list_exports(con, ladder, exports_dir, now)
    # The person leaves the organisers' portal now, not at the next run.
    if snapshot_path().exists():
        publish_portal(con, ladder, now)
    if review_file is not None and review_file.exists():
        write_review_file(con, review_file)
    append(
        con,
        "sync_runs",
        pd.DataFrame(
            [
                {
                    "run_id": run_id,
                    "destination": d,
                    "step": "forget",
                    "status": r.status,
                    "started_at": now,
                    "finished_at": utcnow(),
                    "seconds": r.seconds,
                    "removes": r.by_op.get("remove", 0),
                    "sets": r.by_op.get("set", 0),
                    "requests": r.requests,
                    "confirmed": r.confirmed,
                    "rejected": r.rejected,
                }
                for d, r in reports.items()
            ]
        ),
        or_replace=True,
    )
    return ForgetReport(found.people, found.records, reports, not_reached)


class ForgetConfig(dg.Config):
    """Who to forget, by exactly one of: the address, or its SHA-256 so the address is not
    kept in Dagster's run history (the hash of the trimmed, lower-cased address, or of its
    match key with Gmail dots, +tags and googlemail.com folded, as `make forget` passes);
    the SHA-256 of the phone's E.164 form (`make forget PHONE=...` parses and hashes it;
    a phone itself never enters the run config); or a person id (not personal data)."""

    email: str = ""
    email_sha256: str = ""
    phone_sha256: str = ""
    person_id: str = ""
    force: bool = False  # forget even if a platform's tags could not be taken off


def target_of(config: ForgetConfig) -> Target:
    """The identifier the config names; ValueError when it names none, several or a bad one."""
    email_given = bool(config.email.strip() or config.email_sha256.strip())
    given = [email_given, bool(config.phone_sha256.strip()), bool(config.person_id.strip())]
    if sum(given) != 1:
        raise ValueError(
            "forget: give exactly one of email (or email_sha256), phone_sha256 or person_id "
            "(make forget EMAIL=..., PHONE=... or PERSON_ID=...)"
        )
    if email_given:
        return Target(email_hash=email_hash(config.email, config.email_sha256))
    if config.phone_sha256.strip():
        return Target(phone_hash=phone_hash(sha256=config.phone_sha256))
    return Target(person_id=person_id_check(config.person_id))


@dg.op(
    pool="warehouse",
    description="Removes Groundswell's tags and fields from the person on every platform, "
    "deletes them from the warehouse and the exports, and keeps a hashed suppression row.",
    required_resource_keys={
        "warehouse",
        "groundswell",
        *(p.name for p in registry.PLATFORMS if p.push is not None),
    },
)
def forget_person_op(context: dg.OpExecutionContext, config: ForgetConfig) -> dg.Output:
    try:
        target = target_of(config)
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    groundswell: GroundswellSettings = context.resources.groundswell
    platforms: dict[str, PlatformResource] = {
        p.name: getattr(context.resources, p.name) for p in registry.PLATFORMS if p.push is not None
    }
    try:
        with open_warehouse(context.resources.warehouse) as con:
            report = forget_everywhere(
                con,
                target,
                groundswell.ladder(),
                Path(groundswell.exports_dir),
                Path(groundswell.identity().review_file),
                {name: p.client() for name, p in platforms.items() if p.configured},
                context.run.run_id,
                context.log.info,
                config.force,
                groundswell.default_phone_region,
                groundswell.identity().placeholders.emails,
                groundswell.identity().placeholders.phones,
            )
    except (ErasureIncomplete, ExportsFolderError, KeeperError) as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    for line in report.lines():
        context.log.info(line)
    return dg.Output(
        None,
        metadata={
            "matched": not report.nobody,
            "people_forgotten": report.people,
            "records_deleted": report.records,
            **{f"{d}_removed": r.confirmed for d, r in report.platform.items()},
            **{f"{d}_refused": r.rejected for d, r in report.platform.items()},
            "platforms_not_reached": len(report.not_reached),
        },
    )


@dg.job(
    description="Erasure: forget one person everywhere (config: one of email, email_sha256, "
    "phone_sha256, person_id). The same as make forget EMAIL=..., PHONE=... or PERSON_ID=...",
    tags={"dagster/max_retries": 0},
)
def forget_person() -> None:
    forget_person_op()
