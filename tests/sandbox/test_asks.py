"""The sandbox's ask truth: during an advance a known share of the people carrying a pushed
list's tag take the asked action in the window, visible on the platforms' APIs."""

from __future__ import annotations

import math
import random
from datetime import date, datetime
from typing import Any

import pytest
import requests

from pipelines.sandbox_process import SandboxProcess
from sandbox import Sandbox, start_sandbox
from sandbox.advance import advance_with_asks
from sandbox.asks import ASKS, HOST, AskRound, ListAsk
from sandbox.clock import Clock
from sandbox.generator import subscriber_hash

TODAY = date(2026, 11, 24)
SHARES = {ask.name: ask.share for ask in ASKS}
HOST_LISTS = ("ready_to_host", "connectors")
PETITION_LISTS = ("welcome_new", "first_action")

# The tests tag people themselves, outside any sync: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace


def tag(name: str) -> str:
    return f"groundswell:list:{name}"


def tag_people(sb: Sandbox) -> dict[str, set[int]]:
    """Tag people as Groundswell's pushes would; returns the humans on each list."""
    an, mc = sb.action_network, sb.mailchimp
    on_an = {p.human: p for p in an.people}
    members: dict[int, list] = {}
    for m in mc.members:
        members.setdefault(m.human, []).append(m)
    both = sorted(h for h in members if h in on_an)
    mc_only = sorted(h for h in members if h not in on_an)
    an_only = sorted(h for h in on_an if h not in members)
    twice = [h for h in both if len(members[h]) > 1]  # two addresses on Mailchimp
    assert len(mc_only) >= 60 and len(an_only) >= 40 and twice
    lists: dict[str, set[int]] = {
        "ready_to_host": set(both[:50]) | set(an_only[:30]),
        # On both platforms, some with two Mailchimp members; and some on Mailchimp only.
        "connectors": set(both[40:80]) | set(twice) | set(mc_only[:20]),
        "welcome_new": set(both[100:140]) | set(mc_only[20:60]),
        "first_action": set(both[120:150]) | set(mc_only[40:90]),
    }
    for h in lists["ready_to_host"]:
        an.set_tag(on_an[h], tag("ready_to_host"), True)
    for h in lists["connectors"]:
        if h in on_an:
            an.set_tag(on_an[h], tag("connectors"), True)
        for m in members.get(h, []):
            mc.set_tag(m, tag("connectors"), True)
    for name in PETITION_LISTS:
        for h in lists[name]:
            for m in members[h]:
                mc.set_tag(m, tag(name), True)
    return lists


def advance_fixed(
    sb: Sandbox, asks=ASKS, seed: int = 21
) -> tuple[dict[str, Any], AskRound, random.Random]:
    """Seven days on a fresh clock at the organisation's `now` and a fixed stream, so the
    window and every draw are the same on every run."""
    rng = random.Random(seed)
    counts, round_ = advance_with_asks(
        sb.org, sb.action_network, sb.mailchimp, Clock(sb.org.now), 7, rng, asks
    )
    return counts, round_, rng


def tolerance(n: int, share: float) -> float:
    return 3 * math.sqrt(n * share * (1 - share)) + 1


def test_asks_follow_the_tags_and_the_shares():
    with start_sandbox(people=800, seed=11, an_rate=0, today=TODAY) as sb:
        lists = tag_people(sb)
        humans_on_an = {p.human for p in sb.action_network.people}
        humans_before = len(sb.org.humans)
        counts, round_, _ = advance_fixed(sb)
        start, end = round_.start, round_.end
        for name, humans in lists.items():
            truth = counts["asks"][name]
            assert truth["asked"] == len(humans), f"{name}: once per human"
            assert {a.key for a in round_.asked[name]} == humans
            assert abs(truth["said_yes"] - len(humans) * SHARES[name]) <= tolerance(
                len(humans), SHARES[name]
            )
            assert truth["share"] == SHARES[name]
            said_yes = [a for a in round_.asked[name] if a.said_yes]
            assert all(a.acted for a in said_yes), "saying yes means acting in the window"
            assert truth["said_yes"] <= truth["acted"] <= truth["asked"]
        # Exact for this seed: the same tags and stream always give these.
        assert {n: (t["said_yes"], t["acted"]) for n, t in counts["asks"].items()} == {
            "welcome_new": (13, 19),
            "first_action": (11, 23),
            "ready_to_host": (14, 16),
            "connectors": (10, 11),
        }
        # Mailchimp-only humans who said yes now have an Action Network person, made then.
        made = [
            p
            for p in sb.action_network.people
            if 0 <= p.human < humans_before
            and p.human not in humans_on_an
            and start < p.created <= end
        ]
        expected = {
            a.key
            for name in lists
            for a in round_.asked[name]
            if a.said_yes and a.key not in humans_on_an
        }
        assert {p.human for p in made} == expected and expected
        truth_rows = {uuid for source, uuid, _ in sb.org.truth if source == "action_network"}
        assert {p.uuid for p in made} <= truth_rows


def an_get(sb: Sandbox, path: str, **params: Any) -> dict[str, Any]:
    headers = {"OSDI-API-Token": sb.env["ACTION_NETWORK_API_KEY"]}
    response = requests.get(
        sb.env["ACTION_NETWORK_BASE_URL"] + path, headers=headers, params=params, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def an_all(sb: Sandbox, path: str, name: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of an Action Network collection."""
    items, page = [], 1
    while True:
        body = an_get(sb, path, page=page, **params)
        found = body["_embedded"][f"osdi:{name}"]
        items += found
        # People link a next page even past the end: an empty page ends them.
        if not found or page >= body.get("total_pages", page + 1):
            return items
        page += 1


def control(sb: Sandbox, platform: str, suffix: str, method: str = "GET", **kw: Any):
    base, cut = (
        (sb.env["MAILCHIMP_BASE_URL"], "/3.0")
        if platform == "mailchimp"
        else (sb.env["ACTION_NETWORK_BASE_URL"], "/api/v2")
    )
    return requests.request(method, base.rsplit(cut, 1)[0] + "/_sandbox" + suffix, timeout=30, **kw)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", ""))


def test_the_asked_actions_are_on_the_platforms_and_only_for_the_asked():
    with start_sandbox(people=800, seed=11, an_rate=0, today=TODAY) as sb:
        tag_people(sb)
        before = control(sb, "action_network", "/asks").json()
        assert before["from"] is None and all(
            t["asked"] == t["said_yes"] == t["acted"] == 0 for t in before["asks"].values()
        )
        counts = control(sb, "action_network", "/advance?days=7", "POST").json()
        truth = control(sb, "action_network", "/asks?detail=1").json()
        assert truth == control(sb, "mailchimp", "/asks?detail=true").json()
        plain = control(sb, "mailchimp", "/asks").json()
        assert "asked_emails" not in plain["asks"]["connectors"]
        start, end = moment(truth["from"]), moment(truth["to"])
        assert truth["namespace"] == "groundswell:"
        for name, entry in truth["asks"].items():
            assert {k: entry[k] for k in ("asked", "said_yes", "acted", "share")} == counts["asks"][
                name
            ]
            assert entry["tag"] == tag(name)
            assert len(entry["asked_emails"]) == entry["asked"]
            assert len(entry["said_yes_emails"]) == entry["said_yes"]
            assert len(entry["acted_emails"]) == entry["acted"]
            assert set(entry["said_yes_emails"]) <= set(entry["acted_emails"])
            assert set(entry["acted_emails"]) <= set(entry["asked_emails"])

        def person_of(email: str) -> str:
            """The Action Network person the asked human acts as: by address, else the
            same human's person (the sandbox's hidden truth links them)."""
            found = an_all(sb, "/people", "people", filter=f"email_address eq '{email}'")
            if found:
                return found[0]["identifiers"][0].split(":", 1)[1]
            member = next(m for m in sb.mailchimp.members if m.email.lower() == email)
            return next(p.uuid for p in sb.action_network.people if p.human == member.human)

        # Hosts: each said-yes host created an event that starts in the window, and nobody
        # else did.
        events = an_all(sb, "/events", "events", filter=f"created_date gt '{start.isoformat()}Z'")
        hosted = {
            e["_links"]["osdi:creator"]["href"].rsplit("/", 1)[1]
            for e in events
            if "osdi:creator" in e["_links"] and start < moment(e["start_date"]) <= end
        }
        hosts = {
            person_of(email)
            for name in HOST_LISTS
            for email in truth["asks"][name]["said_yes_emails"]
        }
        assert hosts and hosted == hosts
        # Signers: each said-yes person signed a petition opened in the window, nobody else.
        petitions = an_all(
            sb, "/petitions", "petitions", filter=f"created_date gt '{start.isoformat()}Z'"
        )
        signers = set()
        for petition in petitions:
            pid = petition["identifiers"][0].split(":", 1)[1]
            for s in an_all(sb, f"/petitions/{pid}/signatures", "signatures"):
                assert start < moment(s["created_date"]) <= end
                signers.add(s["action_network:person_id"])
        wanted = {
            person_of(email)
            for name in PETITION_LISTS
            for email in truth["asks"][name]["said_yes_emails"]
        }
        assert wanted and signers == wanted
        for uuid in list(wanted)[:5]:
            mine = an_all(sb, f"/people/{uuid}/signatures", "signatures")
            assert any(start < moment(s["created_date"]) <= end for s in mine)


def test_the_same_seed_gives_the_same_truth():
    reports = []
    for _ in range(2):
        with start_sandbox(people=800, seed=11, an_rate=0, today=TODAY) as sb:
            tag_people(sb)
            counts, round_, rng = advance_fixed(sb)
            reports.append((counts, round_.report(detail=True), rng.random()))
    assert reports[0] == reports[1]


def test_nobody_tagged_means_no_asks_and_the_same_advance():
    results = {}
    for label, asks, tagged in (("off", (), False), ("on", ASKS, False), ("tagged", ASKS, True)):
        with start_sandbox(people=800, seed=11, an_rate=0, today=TODAY) as sb:
            if tagged:
                tag_people(sb)
            counts, round_, rng = advance_fixed(sb, asks)
            actions = sum(len(v) for v in sb.org.organising.actions.values())
            objects = sum(len(v) for v in sb.org.organising.objects.values())
            results[label] = (counts, round_, rng.getstate(), actions, objects)
    off, on, tagged_run = results["off"], results["on"], results["tagged"]
    assert all(t == {"asked": 0, "said_yes": 0, "acted": 0, "share": SHARES[n]}
               for n, t in on[0]["asks"].items())  # fmt: skip
    assert {k: v for k, v in on[0].items() if k != "asks"} == {
        k: v for k, v in off[0].items() if k != "asks"
    }
    assert on[2:] == off[2:], "no draw, no new action or object without anyone asked"
    # With people tagged, everything drawn before the asks is what it was without them.
    changed = ("asks", "action_network_actions", "action_network_new")
    assert {k: v for k, v in tagged_run[0].items() if k not in changed} == {
        k: v for k, v in on[0].items() if k not in changed
    }
    made = tagged_run[1].actions_made
    assert made > 0
    assert tagged_run[0]["action_network_actions"] == on[0]["action_network_actions"] + made


def test_a_bad_detail_is_refused_and_the_truth_kept():
    with start_sandbox(people=300, seed=11, an_rate=0, today=TODAY) as sb:
        tag_people_small = {p.human for p in sb.action_network.people[:30]}
        for p in sb.action_network.people[:30]:
            sb.action_network.set_tag(p, tag("ready_to_host"), True)
        sb.advance(7)
        bad = control(sb, "action_network", "/asks?detail=maybe")
        assert bad.status_code == 400 and "detail must be 1 or 0" in bad.json()["error"]
        kept = control(sb, "action_network", "/asks").json()
        assert kept["asks"]["ready_to_host"]["asked"] == len(tag_people_small)


def test_the_sandbox_process_reads_the_truth():
    process = SandboxProcess(["--people", "150", "--an-latency-ms", "0", "--mc-latency-ms", "0"])
    try:
        process.start()
        process.advance(1)
        plain, detail = process.asks(), process.asks(detail=True)
    finally:
        process.stop()
    assert set(plain["asks"]) == {ask.name for ask in ASKS}
    assert plain["asks"]["welcome_new"] == {
        "tag": "groundswell:list:welcome_new",
        "action": "sign_petition",
        "asked": 0,
        "said_yes": 0,
        "acted": 0,
        "share": 0.2,
    }
    assert detail["asks"]["ready_to_host"]["asked_emails"] == []


def test_a_member_of_no_known_human_acts_under_their_own_address():
    """A Mailchimp member added through the API belongs to no generated human: asked by
    their address, they sign up on Action Network under it when they say yes."""
    with start_sandbox(people=200, seed=11, an_rate=0, today=TODAY) as sb:
        address = "new.member@example.org"
        member = sb.mailchimp.add_member(address, subscriber_hash(address), "subscribed")
        sb.mailchimp.set_tag(member, tag("connectors"), True)
        always = (ListAsk("connectors", 1.0, HOST, frozenset({"event_hosted"})),)
        counts, round_, _ = advance_fixed(sb, always)
        assert counts["asks"]["connectors"] == {"asked": 1, "said_yes": 1, "acted": 1, "share": 1.0}
        person = sb.action_network.by_email(address)
        assert person is not None and round_.start < person.created <= round_.end
        hosted = [e for e in sb.org.organising.objects["events"] if e.host == person.uuid]
        assert len(hosted) == 1 and round_.start < hosted[0].start <= round_.end
        assert round_.report(detail=True)["asks"]["connectors"]["acted_emails"] == [address]
