"""Sync plans: desired state minus the ledger, per destination, with the guard rails that
stop a plan before anything is sent. Planning writes only `sync_plan` and `sync_runs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pandas as pd

from transforms import destinations, steps
from transforms.ladder_config import DESTINATIONS, Ladder, LadderConfigError
from warehouse import platform_sql
from warehouse.load import append, replace_contents

COUNTS = (
    "adds",
    "removes",
    "sets",
    "creates",
    "drift_repaired",  # of the adds, removes and sets: putting back what drifted
    "opt_outs_propagated",  # unsubscribes carried from another platform or a form
    "unchanged",
    "skipped_consent",
    "skipped_not_member",
    "skipped_rejected",
    "people",
)
# Each platform's name for messages: its `title`, registered by connectors/registry.py.
PLATFORM_NAMES = platform_sql.TITLES


@dataclass
class Plan:
    run_id: str
    counts: dict[str, dict[str, int]]  # destination -> count name -> n
    people: int  # distinct people touched across destinations
    violations: list[str] = field(default_factory=list)
    tag_people: int = 0  # people touched by anything but an opt-out (the max_people rule)

    @property
    def operations(self) -> int:
        return sum(
            c["adds"] + c["removes"] + c["sets"] + c["creates"] + c["opt_outs_propagated"]
            for c in self.counts.values()
        )


def check_namespace(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> None:
    """Refuse a namespace that a tag Groundswell does not manage already uses on a
    platform: the sync would otherwise claim, add or remove a tag people set by hand."""
    destinations.read_state(con)
    clash = con.execute(
        """
        WITH seen AS (
            SELECT destination, tag FROM stage.destination_tags
            UNION
            SELECT source, unnest(platform_tags)
            FROM stg_source_records WHERE source IN (SELECT destination FROM stage.destinations)
        ), managed AS (
            -- Groundswell's own: pushed, claimed before a request that may create them, or
            -- named by a write it intended (its answer may have been lost).
            SELECT destination, lower(item) AS tag FROM sync_ledger WHERE kind = 'tag'
            UNION
            SELECT destination, lower(tag) FROM sync_managed_tags
            UNION
            SELECT destination, lower(item) FROM sync_intents
            WHERE kind IN ('tag', 'tag_definition')
        )
        SELECT destination, tag FROM seen
        WHERE starts_with(lower(tag), lower($namespace))
          AND NOT EXISTS (SELECT 1 FROM managed m
                          WHERE m.destination = seen.destination AND m.tag = lower(seen.tag))
        ORDER BY ALL
        """,
        {"namespace": ladder.namespace},
    ).fetchall()
    if not clash:
        return
    destination, tag = clash[0]
    ours = {t.lower(): s for d in DESTINATIONS for s, t, _ in ladder.pushed_segments(d)}
    what = f"the {ours[tag.lower()]} tag" if tag.lower() in ours else "the namespace"
    raise LadderConfigError(
        f"{ladder.source}: namespace {ladder.namespace!r}: {what} collides with the existing "
        f"tag {tag!r} on {PLATFORM_NAMES[destination]}, which Groundswell does not manage "
        f"({len(clash)} such tag(s) in all). Choose another namespace or rename that rung or "
        "list in ladder.yaml, or rename the tag on the platform."
    )


def check_merge_field(con: duckdb.DuckDBPyConnection, ladder: Ladder) -> None:
    """The tier merge field, when configured, must exist in the audience (as last read)."""
    tag = ladder.sync.mailchimp.tier_merge_field
    if tag is None:
        return
    destinations.read_state(con)
    known = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT field FROM stage.destination_fields WHERE destination = 'mailchimp'"
        ).fetchall()
    ]
    if known and tag not in known:
        raise LadderConfigError(
            f"{ladder.source}: sync.mailchimp.tier_merge_field {tag!r} is not a merge field of "
            f"the Mailchimp audience (it has {', '.join(sorted(k for k in known if k))}); "
            "create it in Mailchimp (Audience > Settings > Audience fields) or remove the setting"
        )


def build_plan(con: duckdb.DuckDBPyConnection, ladder: Ladder, run_id: str, now: datetime) -> Plan:
    """Steps sync_segments, destination_state and sync_plan: the plan into
    `stage.sync_plan`, and the guard rails evaluated."""
    steps.require(con, "sync_segments")
    segments = pd.DataFrame(
        [
            (destination, segment, tag, journeys)
            for destination in DESTINATIONS
            for segment, tag, journeys in ladder.pushed_segments(destination)
        ],
        columns=["destination", "segment", "tag", "journeys"],
    )
    con.execute(
        "CREATE OR REPLACE TABLE stage.sync_segments (destination VARCHAR, segment VARCHAR, "
        "tag VARCHAR, journeys BOOLEAN)"
    )
    append(con, "stage.sync_segments", segments)
    sync = ladder.sync
    code_rungs = (
        [r.name for r in ladder.rungs if "action_network" in r.push]
        if sync.action_network.referral_code_rungs is None
        else list(sync.action_network.referral_code_rungs)
    )
    steps.run(con, "macros")  # kept fresh: this asset may be run alone on an older warehouse
    destinations.read_state(con)
    steps.run(
        con,
        "sync_plan",
        {
            "namespace": ladder.namespace,
            "run_id": run_id,
            "now": now,
            "retry_days": sync.retry_rejected_after_days,
            "merge_field": sync.mailchimp.tier_merge_field,
            "mc_tiers": [r.name for r in ladder.rungs if "mailchimp" in r.push],
            "code_field": sync.action_network.referral_code_field,
            "code_rungs": code_rungs,
            "mc_new": sync.mailchimp.add_new_people,
            "an_new": sync.action_network.add_new_people,
            "propagate": sync.propagate_opt_outs,
        },
    )
    counts = {
        row[0]: dict(zip(COUNTS, (int(v) for v in row[1:]), strict=True))
        for row in con.execute(
            f"SELECT destination, {', '.join(COUNTS)} FROM stage.sync_plan_counts"
        ).fetchall()
    }
    people, tag_people = con.execute(
        "SELECT count(DISTINCT person_id), count(DISTINCT person_id) FILTER (WHERE kind <> 'status') "
        "FROM stage.sync_plan"
    ).fetchone()
    plan = Plan(run_id, counts, int(people), tag_people=int(tag_people))
    plan.violations = guard_rail_violations(con, plan, ladder)
    return plan


def guard_rail_violations(con: duckdb.DuckDBPyConnection, plan: Plan, ladder: Ladder) -> list[str]:
    """Why this plan must not be sent without a confirmation (empty: it may). Propagated
    opt-outs count toward neither tag rule; they have their own, `max_opt_outs`, because
    Groundswell cannot undo an unsubscribe. A stopped plan holds them with the rest (the
    blocking check skips the pushes) until it is confirmed."""
    sync = ladder.sync
    shrinking = con.execute(
        """
        SELECT destination, segment, removes, pushed, remove_share FROM stage.sync_segment_changes
        WHERE pushed >= greatest($min_size, 1) AND remove_share > $max_share
        ORDER BY ALL
        """,
        {"min_size": sync.min_segment_for_share, "max_share": sync.max_remove_share},
    ).fetchall()
    problems = [
        f"{PLATFORM_NAMES[destination]}: {segment} would lose {removes:,} of its {pushed:,} "
        f"members ({share:.0%}, more than the {sync.max_remove_share:.0%} allowed by "
        "sync.max_remove_share)"
        for destination, segment, removes, pushed, share in shrinking
    ]
    if plan.tag_people > sync.max_people:
        problems.append(
            f"the plan touches {plan.tag_people:,} people, more than sync.max_people "
            f"({sync.max_people:,})"
        )
    opt_outs = sum(c["opt_outs_propagated"] for c in plan.counts.values())
    if opt_outs > sync.max_opt_outs:
        problems.append(
            f"the plan unsubscribes {opt_outs:,} contacts (sync.propagate_opt_outs), more "
            f"than sync.max_opt_outs ({sync.max_opt_outs:,}); an unsubscribe cannot be "
            "undone, so check the opt-outs' sources (a consent column read the wrong way "
            "round?) before confirming"
        )
    return problems


def save_plan(
    con: duckdb.DuckDBPyConnection, plan: Plan, status: str, now: datetime, message: str = ""
) -> None:
    """Step sync_plan_save: replace `sync_plan` with this plan and record it in
    `sync_runs`."""
    steps.require(con, "sync_plan_save")
    rows = pd.DataFrame(
        [
            {
                "run_id": plan.run_id,
                "destination": d,
                "step": "plan",
                "status": status,
                "started_at": now,
                "finished_at": now,
                "seconds": 0.0,
                "message": message,
                **c,
            }
            for d, c in plan.counts.items()
        ]
    )
    replace_contents(con, "sync_plan", "SELECT * FROM stage.sync_plan")
    append(con, "sync_runs", rows, or_replace=True)


def latest_plan_status(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(run_id, status) of the plan now in `sync_plan`."""
    row = con.execute(
        "SELECT run_id, status FROM sync_runs WHERE step = 'plan' "
        "ORDER BY started_at DESC, run_id DESC LIMIT 1"
    ).fetchone()
    return (row[0], row[1]) if row else None


def pending_operations(con: duckdb.DuckDBPyConnection, destination: str) -> pd.DataFrame:
    """The plan's operations for one destination that the ledger does not already show
    done: a resumed or repeated push never resends what the platform confirmed. A new
    contact's operations are matched through the id the platform gave it (the create's
    ledger row keeps it as remote_id). A drift repair or an opt-out is planned although
    the ledger may show it done before: only a confirmation after the plan counts for it.
    Operations an earlier run sent without learning the outcome are held back until
    reconciliation has read the platform's state."""
    return con.execute(
        """
        WITH planned AS (
            SELECT run_id, max(started_at) AS planned_at FROM sync_runs
            WHERE step = 'plan' GROUP BY run_id
        ), plan AS (
            SELECT p.*, coalesce(n.remote_id, p.member_key) AS confirmed_key,
                   n.member_key IS NOT NULL AS created, x.planned_at
            FROM sync_plan p
            LEFT JOIN planned x USING (run_id)
            LEFT JOIN sync_ledger n
              ON n.destination = p.destination AND n.member_key = p.member_key
             AND n.kind = 'member'
            WHERE p.destination = ?
        ), checked AS (
            SELECT p.*, l.state AS ledger_state,
                   NOT (coalesce(p.drift, false) OR p.op = 'unsubscribe')
                       OR coalesce(l.pushed_at >= p.planned_at, false) AS done_counts
            FROM plan p
            LEFT JOIN sync_ledger l
              ON l.destination = p.destination AND l.member_key = p.confirmed_key
             AND l.item = p.item
        )
        SELECT p.* EXCLUDE (confirmed_key, created, planned_at, ledger_state, done_counts)
        FROM checked p
        WHERE NOT (p.op = 'add' AND coalesce(p.ledger_state = 'active', false) AND p.done_counts)
          AND NOT (p.op = 'remove' AND coalesce(p.ledger_state, 'inactive') = 'inactive'
                   AND p.done_counts)
          AND NOT (p.op = 'set' AND p.ledger_state IS NOT DISTINCT FROM p.value AND p.done_counts)
          AND NOT (p.op = 'unsubscribe' AND coalesce(p.ledger_state = p.value, false)
                   AND p.done_counts)
          AND NOT (p.op = 'create' AND p.created)
          AND NOT EXISTS (SELECT 1 FROM sync_intents i
                          WHERE i.destination = p.destination AND i.member_key = p.member_key
                            AND i.item = p.item AND i.state IN ('intended', 'sent'))
        ORDER BY p.member_key, p.op, p.item
        """,
        [destination],
    ).fetchdf()
