"""The synthetic organisation: deterministic, varied like real data, with full ground truth."""

import time
from collections import Counter
from datetime import date

import pytest

from sandbox.generator import generate, subscriber_hash

TODAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def org():
    return generate(5000, 42, TODAY)


def test_same_seed_same_data_other_seed_differs(org):
    again = generate(5000, 42, TODAY)
    assert again.truth == org.truth
    assert [p.email for p in again.an_people] == [p.email for p in org.an_people]
    assert generate(5000, 43, TODAY).truth != org.truth


def test_truth_covers_every_source_record(org):
    keys = {(s, r) for s, r, _ in org.truth}
    assert len(keys) == len(org.truth)
    assert {("action_network", p.uuid) for p in org.an_people} <= keys
    assert {("mailchimp", m.id) for m in org.mc_members} <= keys
    forms = {r for s, r, _ in org.truth if s == "forms"}
    assert len(forms) == len(org.google_rows) + len(org.typeform_rows)
    assert len({h for _, _, h in org.truth}) == 5000


def test_everyone_is_somewhere_and_platform_shares_are_realistic(org):
    assert 0.6 < len(org.an_people) / 5000 < 0.8
    assert 0.65 < len({m.human for m in org.mc_members}) / 5000 < 0.85


def test_the_variation_real_data_has(org):
    mc_emails = [m.email for m in org.mc_members]
    assert any("googlemail.com" in e for e in mc_emails)
    assert any("+" in e.split("@")[0] for e in mc_emails)
    assert any(e != e.lower() for e in mc_emails)
    nicknames = sum(
        m.fname in ("Bill", "Liz", "Bob", "Kate", "Mike", "Jim") for m in org.mc_members
    )
    assert nicknames > 0
    phones = Counter(h.phone for h in org.humans if h.phone)
    assert any(n == 2 for n in phones.values()), "households share a phone"
    assert any(len(h.emails) == 2 for h in org.humans), "some humans have two emails"
    formats = {p.phone[:1] for p in org.an_people if p.phone} | {
        m.phone[:1] for m in org.mc_members if m.phone
    }
    assert {"+", "("} <= formats


def test_unsubscribed_on_one_platform_only(org):
    an = {p.human: p.email_status for p in org.an_people}
    split = [
        m
        for m in org.mc_members
        if m.human in an and (an[m.human] == "subscribed") != (m.status == "subscribed")
    ]
    assert split
    assert {m.status for m in org.mc_members} >= {
        "subscribed",
        "unsubscribed",
        "cleaned",
        "pending",
    }


def test_core_team_is_tagged(org):
    hq = [h for h in org.humans if h.hq]
    assert len(hq) >= 3
    assert any("Core Team" in m.tags for m in org.mc_members)
    assert all(m.id == subscriber_hash(m.email) for m in org.mc_members[:50])


def test_twenty_thousand_people_in_seconds():
    started = time.monotonic()
    big = generate(20000, 1, TODAY)
    assert time.monotonic() - started < 10
    assert len({h for _, _, h in big.truth}) == 20000
