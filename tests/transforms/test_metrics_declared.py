"""person_metrics generated from its declaration (transforms/metrics.py): on a sandbox
organisation it is the table the hand-written SQL made (same columns, order, types and
values), and one line more in a copy of the declaration adds a window or an activity type
without a migration."""

from datetime import timedelta
from pathlib import Path

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.forms.landing import land_form_exports
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import land_mailchimp_campaigns, land_mailchimp_members
from sandbox import start_sandbox
from tests.support.raw import NOW, an_person, land
from transforms import engagement, metrics
from transforms.engagement import build_activities
from transforms.identity import resolve
from transforms.metrics import METRICS, Activity, Metrics
from transforms.normalise import build_staging
from warehouse.load import replace_contents, run_sql_file

# The hand-written SQL person_metrics was built from before it was declared; kept as it was.
REFERENCE = Path(__file__).with_name("person_metrics_reference.sql")


def shape(con) -> list[tuple]:
    """Each column's name, type and whether it may be NULL, in table order."""
    return [row[:3] for row in con.execute("DESCRIBE person_metrics").fetchall()]


def rows(con) -> list[tuple]:
    return con.execute("SELECT * FROM person_metrics ORDER BY person_id").fetchall()


def land_sandbox(con, sb, inbox: Path) -> None:
    env = sb.env
    an = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    mc = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    quiet = lambda _: None  # noqa: E731
    land_action_network_people(con, an, "b1", quiet)
    land_action_network_actions(con, an, "b1", quiet)
    land_action_network_whole(con, an, "b1", quiet)
    land_mailchimp_members(con, mc, "b1", quiet)
    land_mailchimp_campaigns(con, mc, "b1", quiet, now=sb.clock.now())
    land_form_exports(con, inbox, "b1", quiet, quiet)


def test_the_declared_table_is_the_hand_written_one_on_a_sandbox_organisation(con, tmp_path):
    migrated = shape(con)  # what migrations 004 and 013 made: the table users know
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with start_sandbox(people=300, seed=21, an_rate=0, forms_dir=inbox) as sb:
        land_sandbox(con, sb, inbox)
        now = sb.clock.now()
    build_staging(con, "US")
    resolve(con, now)
    build_activities(con)

    run_sql_file(con, REFERENCE, {"as_of": now})
    replace_contents(con, "person_metrics", "SELECT * FROM _person_metrics")
    before = rows(con)

    assert engagement.build_person_metrics(con, now) == len(before) > 250
    assert shape(con) == migrated
    assert [c for c, *_ in migrated] == metrics.column_names()
    after = rows(con)
    names = metrics.column_names()
    differ = [n for i, n in enumerate(names) if [r[i] for r in after] != [r[i] for r in before]]
    assert differ == [], "columns whose values changed"
    assert after == before
    # The comparison means something: most columns hold a value other than 0, false or
    # empty for someone (the rest are rare in a 300-person organisation).
    filled = {
        n for i, n in enumerate(names) if any(r[i] not in (None, 0, False, []) for r in after)
    }
    # What organisers record in the portal (the ask loop) is not in a sandbox organisation.
    recorded = set(metrics.column_names()[metrics.column_names().index("conversations_30d") :])
    assert len(filled) >= len(names) - 12 - len(recorded), sorted(set(names) - filled - recorded)
    for family in ("actions_", "petitions_", "events_rsvped_", "donations_", "email_opens_"):
        assert any(n.startswith(family) for n in filled), family


def one_person(con) -> str:
    land(con, an=[an_person("Ana", "Lima", "ana@example.org", created="2026-01-01T00:00:00Z")])
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    return con.execute("SELECT person_id FROM people").fetchone()[0]


def add_activity(con, person_id: str, kind: str, record: str, days_ago: int) -> None:
    con.execute(
        "INSERT INTO activities (person_id, source, source_record_id, activity_type, "
        "occurred_at) VALUES (?, 'forms', ?, ?, ?)",
        [person_id, record, kind, NOW - timedelta(days=days_ago)],
    )


def test_one_line_more_adds_a_window_or_an_activity_type_and_no_migration_is_needed(con):
    person_id = one_person(con)
    add_activity(con, person_id, "phone_call", "call-1", days_ago=3)
    add_activity(con, person_id, "phone_call", "call-2", days_ago=40)
    add_activity(con, person_id, "petition_signature", "sig-1", days_ago=5)
    metrics.build_person_metrics(con, NOW)
    base = dict(zip(metrics.column_names(), rows(con)[0], strict=True))
    assert base["actions_total"] == 1, "phone_call is not declared: not an action yet"

    extended = Metrics(
        {"7d": 7, **METRICS.windows},
        (*METRICS.entries, Activity("phone_call", "calls", last="last_call_at")),
    )
    metrics.build_person_metrics(con, NOW, extended)
    names = [c for c, *_ in shape(con)]
    assert names == metrics.column_names(extended)
    added = [n for n in names if n not in base]
    assert added == [
        "actions_7d",
        "petitions_7d",
        "events_rsvped_7d",
        "events_attended_7d",
        "events_hosted_7d",
        "forms_7d",
        "volunteer_signups_7d",
        "donations_7d",
        "outreaches_7d",
        "conversations_7d",
        "commitments_7d",
        "calls_7d",
        "calls_30d",
        "calls_90d",
        "calls_180d",
        "calls_365d",
        "calls_total",
        "last_call_at",
    ]
    found = dict(zip(names, rows(con)[0], strict=True))
    assert (found["calls_7d"], found["calls_30d"], found["calls_total"]) == (1, 1, 2)
    assert found["last_call_at"] == NOW - timedelta(days=3)
    assert (found["actions_7d"], found["actions_total"]) == (2, 3)  # now an action
    assert (found["petitions_7d"], found["petitions_30d"]) == (1, 1)
    moved = {n for n in base if n.startswith("actions_") or "_action" in n}
    assert {n: found[n] for n in base if n not in moved} == {
        n: v for n, v in base.items() if n not in moved
    }

    # Back to the shipped declaration: the table takes its shape again, still no migration.
    metrics.build_person_metrics(con, NOW)
    assert dict(zip([c for c, *_ in shape(con)], rows(con)[0], strict=True)) == base


def test_a_declaration_mistake_is_named():
    wrong = Metrics(METRICS.windows, (*METRICS.entries, Activity("x", "xs", ("14d",))))
    with pytest.raises(
        ValueError, match=r"transforms/metrics\.py: activity 'x' names window\(s\) 14d"
    ):
        metrics.select_sql(wrong)
    twice = Metrics(METRICS.windows, (*METRICS.entries, Activity("outreach", "outreaches")))
    with pytest.raises(ValueError, match="column 'outreaches_30d' is declared twice"):
        metrics.select_sql(twice)
