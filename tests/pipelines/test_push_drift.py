"""Drift repair, end to end on the simulators: a Groundswell tag removed by hand on a
platform is set again, one added by hand where it does not belong is removed, each counted
as `drift_repaired` for its destination; an idle run plans nothing; a copy pulled before
the push never undoes it. Every run is the real job up to the pushes: land, build, plan, push
(run_through_pushes; the exports, which nothing pushed reads, are tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.action_network.client import ActionNetworkClient
from connectors.mailchimp.client import MailchimpClient
from sandbox import start_sandbox
from tests.support.pipeline import configure, run_through_pushes
from tests.support.sync import clear_writes as _clear
from tests.support.sync import ladder_with_sync, run_counts
from tests.support.sync import platform_writes as _writes
from tests.support.sync import read_sql as _sql
from transforms.summary import summarise

NAMESPACE = "groundswell:"


def _drift(warehouse: Path, result, step: str = "plan") -> dict[str, int]:
    return run_counts(warehouse, result, "drift_repaired", step)


SEED, PEOPLE = 11, 200


def _ladder(path: Path, tier_field: str | None) -> str:
    """The default ladder, with the tier merge field on or off. With it on, every member
    Groundswell writes to is read again by the next pull (setting a merge field moves
    last_changed); tags alone do not move it."""
    return ladder_with_sync(
        path, {"mailchimp": {"tier_merge_field": tier_field}} if tier_field else {}
    )


@pytest.fixture(scope="module")
def organisation(tmp_path_factory):
    """A sandbox organisation pushed once with tags only, shared by the tests here (a whole
    run costs ~12 s of CPU): the tags-only test runs first, then the tier merge field is
    turned on for the others."""
    tmp_path = tmp_path_factory.mktemp("drift")
    inbox = tmp_path / "inbox"
    (tmp_path / "run").mkdir()
    with (
        start_sandbox(people=PEOPLE, seed=SEED, an_rate=0, forms_dir=inbox) as sandbox,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        warehouse = configure(monkeypatch, tmp_path / "run", sandbox.env, inbox)
        org = {"sandbox": sandbox, "warehouse": warehouse, "tier_field": None}
        org["push"] = lambda tier_field: _push(
            org, monkeypatch, tmp_path / "ladder.yaml", tier_field
        )
        org["push"](None)
        yield org


def _push(org: dict, monkeypatch, ladder: Path, tier_field: str | None) -> None:
    """Push with the tier merge field on or off: the ledger and the platforms agree."""
    monkeypatch.setenv("LADDER_CONFIG", _ladder(ladder, tier_field))
    assert run_through_pushes().success
    assert _sql(org["warehouse"], "SELECT count(*) FROM sync_ledger WHERE kind = 'tag'")[0][0] > 0
    org["tier_field"] = tier_field


@pytest.fixture()
def pushed(organisation):
    """Pushed once with the tier merge field on: turning it on writes it to every member
    Groundswell tags, as a first push with it on does, and each is read again by the next
    pull."""
    if organisation["tier_field"] != "TIER":
        organisation["push"]("TIER")
    _clear(organisation["sandbox"])
    return organisation["sandbox"], organisation["warehouse"]


@pytest.fixture()
def pushed_tags_only(organisation):
    """Pushed once with tags only: no member Groundswell tagged is pulled again."""
    assert organisation["tier_field"] is None, "runs before the tier merge field is turned on"
    _clear(organisation["sandbox"])
    return organisation["sandbox"], organisation["warehouse"]


def _clients(sandbox) -> tuple[MailchimpClient, ActionNetworkClient]:
    env = sandbox.env
    mc = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    an = ActionNetworkClient(
        env["ACTION_NETWORK_API_KEY"], env["ACTION_NETWORK_BASE_URL"], requests_per_second=0
    )
    return mc, an


def _tagged(warehouse: Path, destination: str, n: int) -> list[tuple[str, str]]:
    """(member_key, tag) of `n` contacts the ledger says carry a Groundswell tag there."""
    return _sql(
        warehouse,
        """
        SELECT l.member_key, any_value(l.item) FROM sync_ledger l
        JOIN stg_source_records s ON s.source = l.destination AND s.source_record_id = l.member_key
        WHERE l.destination = ? AND l.kind = 'tag' AND l.state = 'active'
          AND s.email IS NOT NULL
        GROUP BY 1 ORDER BY 1 LIMIT ?
        """,
        [destination, n],
    )


def _not_carried(warehouse: Path, destination: str, member_key: str) -> str:
    """A Groundswell tag managed on `destination` that the contact should not carry."""
    return _sql(
        warehouse,
        """
        SELECT DISTINCT item FROM sync_ledger
        WHERE destination = ? AND kind = 'tag' AND state = 'active' AND item NOT IN (
            SELECT item FROM sync_ledger WHERE destination = ? AND member_key = ?
              AND state = 'active')
        ORDER BY 1 LIMIT 1
        """,
        [destination, destination, member_key],
    )[0][0]


def test_a_copy_pulled_before_the_push_never_undoes_it(pushed_tags_only):
    """Staleness: tags do not move a member's last_changed, so after a tags-only push the
    warehouse's newest copy of every member predates it and does not show its tags; taking
    that for drift would add every tag again. Nor can a tag-only change by hand be seen
    until the member is read again (the documented limit): then it is repaired."""
    sandbox, warehouse = pushed_tags_only
    mc, _ = _clients(sandbox)
    (key, tag), *_ = _tagged(warehouse, "mailchimp", 1)
    newest_copy, pushed_at = _sql(
        warehouse,
        "SELECT (SELECT max(loaded_at) FROM raw_mailchimp WHERE record_id = ?), "
        "(SELECT pushed_at FROM sync_ledger WHERE member_key = ? AND item = ?)",
        [key, key, tag],
    )[0]
    assert newest_copy < pushed_at

    idle = run_through_pushes()
    assert idle.success
    assert _drift(warehouse, idle) == {"mailchimp": 0, "action_network": 0}
    assert _writes(sandbox) == [], "no tag just pushed is pushed again"

    mc.set_member_tags(key, {tag: False})  # a tag-only change: last_changed stays
    _clear(sandbox)
    unseen = run_through_pushes()
    assert unseen.success
    assert _drift(warehouse, unseen)["mailchimp"] == 0
    assert _writes(sandbox) == []

    fname = sandbox.mailchimp.by_id[key].fname
    mc.update_merge_fields(key, {"FNAME": fname})  # any change that moves last_changed
    _clear(sandbox)
    seen = run_through_pushes()
    assert seen.success
    assert _drift(warehouse, seen)["mailchimp"] == 1
    assert tag in sandbox.mailchimp.by_id[key].tags


def test_drift_is_repaired_in_both_directions_and_an_idle_run_plans_nothing(pushed):
    sandbox, warehouse = pushed
    mc, an = _clients(sandbox)

    # An idle run: nothing drifted, nothing is planned or sent.
    idle = run_through_pushes()
    assert idle.success
    assert _drift(warehouse, idle) == {"mailchimp": 0, "action_network": 0}
    assert _writes(sandbox) == [], "a second run with nothing new sends nothing"

    # By hand on Mailchimp: one member loses a Groundswell tag, another gains one they
    # should not carry, as a restore from a backup would (their record is rewritten, so
    # last_changed moves and the next pull reads them again).
    (gone_key, gone_tag), (extra_key, _) = _tagged(warehouse, "mailchimp", 2)
    extra_tag = _not_carried(warehouse, "mailchimp", extra_key)
    mc.set_member_tags(gone_key, {gone_tag: False, "Volunteer 2019": True})
    mc.set_member_tags(extra_key, {extra_tag: True})
    for key in (gone_key, extra_key):
        fname = sandbox.mailchimp.by_id[key].fname
        mc.update_merge_fields(key, {"FNAME": fname})

    # By hand on Action Network: the same, through the signup helper.
    (an_gone_key, an_gone_tag), (an_extra_key, _) = _tagged(warehouse, "action_network", 2)
    an_extra_tag = _not_carried(warehouse, "action_network", an_extra_key)
    people = sandbox.action_network.by_uuid
    an.signup(
        {"email_addresses": [{"address": people[an_gone_key].email}]}, remove_tags=[an_gone_tag]
    )
    an.signup(
        {"email_addresses": [{"address": people[an_extra_key].email}]}, add_tags=[an_extra_tag]
    )
    _clear(sandbox)

    repaired = run_through_pushes()
    assert repaired.success
    assert _drift(warehouse, repaired) == {"mailchimp": 2, "action_network": 2}
    assert _drift(warehouse, repaired, "push") == {"mailchimp": 2, "action_network": 2}
    summary = summarise(str(warehouse), repaired.run_id, [])
    assert summary.count("2 drift_repaired") == 4, "plan and push, per destination"
    member = sandbox.mailchimp.by_id
    assert gone_tag in member[gone_key].tags, "the tag removed by hand is set again"
    assert "Volunteer 2019" in member[gone_key].tags, "a tag outside the namespace stays"
    assert extra_tag not in member[extra_key].tags, "the tag added by hand is removed"
    assert an_gone_tag in sandbox.action_network.person_tags(an_gone_key)
    assert an_extra_tag not in sandbox.action_network.person_tags(an_extra_key)
    # Only those four contacts were written to, and nothing else was lost.
    assert {w.member for w in _writes(sandbox)} == {
        gone_key,
        extra_key,
        an_gone_key,
        an_extra_key,
    }
    ledger = dict(
        _sql(
            warehouse,
            "SELECT member_key || ' ' || item, state FROM sync_ledger WHERE member_key IN (?, ?)",
            [gone_key, extra_key],
        )
    )
    assert ledger[f"{gone_key} {gone_tag}"] == "active"
    assert ledger[f"{extra_key} {extra_tag}"] == "inactive"

    # Idle again: the repairs are in the ledger and on the platforms.
    _clear(sandbox)
    again = run_through_pushes()
    assert again.success
    assert _drift(warehouse, again) == {"mailchimp": 0, "action_network": 0}
    assert _writes(sandbox) == []
