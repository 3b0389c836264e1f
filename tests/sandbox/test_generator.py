"""The synthetic organisation: deterministic, varied like real data, with full ground truth."""

import random
import time
from collections import Counter
from datetime import date

import pytest

from sandbox.generator import generate, subscriber_hash, write_form_exports
from sandbox.paper_sheets import PAPER_FILE, PAPER_HEADER

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
    assert len(forms) == len(org.google_rows) + len(org.typeform_rows) + len(org.paper_rows)
    # The organisation's people, and the new people known only from the paper sheet.
    assert len({h for _, _, h in org.truth}) == len(org.humans) == 5000 + 50


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
    assert len({h for _, _, h in big.truth}) == 20000 + 200


def test_the_typed_up_paper_sheet_and_its_truth(org, tmp_path):
    rows, humans = org.paper_rows, org.paper_humans
    assert 0.03 < len(rows) / len(org.humans) < 0.06, "a modest share signs a paper sheet"
    truth = {r: h for s, r, h in org.truth if s == "forms" and r.startswith(PAPER_FILE)}
    assert len(truth) == len(rows)
    assert all(
        truth[f"{PAPER_FILE}:{n}"] == org.humans[i].human_id for n, i in enumerate(humans, start=1)
    )
    # Some are known elsewhere with a street address, some only from the sheet.
    known = {p.human for p in org.an_people if p.address} | {
        m.human for m in org.mc_members if m.address
    }
    assert any(i in known for i in humans) and any(i >= 5000 for i in humans)
    new = [org.humans[i] for i in humans if i >= 5000]
    assert all(not h.emails and h.phone is None for h in new)
    namesakes = [
        h
        for h in new
        if any(
            (o.given, o.family, o.city) == (h.given, h.family, h.city) for o in org.humans[:5000]
        )
    ]
    assert namesakes, "some new people share a name with someone in their town"
    # The slips typed-up sheets carry, each at least once.
    pairs = [(r, org.humans[i]) for r, i in zip(rows, humans, strict=True)]
    assert any(
        r[0].lower() == h.family.lower() and r[1].lower() == h.given.lower() for r, h in pairs
    )
    assert any(r[3] == "" and r[2].strip().lower().endswith(h.city.lower()) for r, h in pairs)
    assert any(r[2] == "" for r in rows) and any(r[5] == "" for r in rows)
    assert any(" street" in r[2].lower() or " avenue" in r[2].lower() for r in rows)
    assert any(r[0] == r[0].upper() and len(r[0]) > 2 for r in rows)
    assert sum(r[1].lower() not in {h.family.lower() for h in org.humans} for r in rows) > 0
    assert all(r[2] or r[3] or r[5] for r in rows), "every row has some postal detail"
    # Written into the inbox beside the other exports, with no email or phone column.
    paths = write_form_exports(org, tmp_path)
    sheet = tmp_path / PAPER_FILE
    assert sheet in paths
    lines = sheet.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(PAPER_HEADER) and len(lines) == len(rows) + 1


def test_the_paper_sheet_leaves_the_platforms_records_as_they_were(org, monkeypatch):
    import sandbox.generator as generator

    monkeypatch.setattr(generator, "add_paper_sheet", lambda *_args: None)
    without = generator.generate(5000, 42, TODAY)
    assert [p.uuid for p in without.an_people] == [p.uuid for p in org.an_people]
    assert [m.email for m in without.mc_members] == [m.email for m in org.mc_members]
    assert without.google_rows == org.google_rows and not without.paper_rows


def test_a_person_known_only_from_the_paper_sheet_is_referred_to_by_name(monkeypatch):
    """A simulated day's Google Forms rows may name anyone as their referrer; someone
    with no email (known only from the sheet) is named, never looked up by address."""
    from sandbox.generator import add_referrals

    org = generate(200, 3, TODAY)
    new = org.humans[200:]
    assert new and all(not h.emails for h in new)
    org.organising.codes = []
    org.humans[:] = org.humans[:1] + new  # every other human has no email
    org.google_rows[:] = [["", "x@example.org", "", "", "", "", "", "", ""]] * 50
    org.google_humans[:] = [0] * 50
    monkeypatch.setattr("sandbox.generator.REFERRED", 1.0)
    add_referrals(random.Random(1), org, 0)
    assert {r[-1] for r in org.google_rows} <= {f"{h.given} {h.family}" for h in new}


def test_parts_numbered_on_share_no_human_address_or_number():
    """An organisation made in parts (distinct seeds, humans numbered on) never gives two
    humans of different parts the same id, email address or phone number."""
    first = generate(600, 5)
    second = generate(600, 1005, first.today, first_human=len(first.humans))
    humans = first.humans + second.humans
    assert len({h.human_id for h in humans}) == len(humans)
    emails = [e for h in humans for e in h.emails]
    assert len(set(emails)) == len(emails)
    assert not {h.phone for h in first.humans if h.phone} & {
        h.phone for h in second.humans if h.phone
    }
    assert {r[0] for r in second.truth} == {r[0] for r in first.truth}
    assert min(h.human_id for h in second.humans) > max(h.human_id for h in first.humans)


def test_a_larger_organisation_spans_more_zip_codes_of_each_city():
    """Past PLACE_SET_PEOPLE humans, the next humans live under other ZIP prefixes of the
    same cities, never another city's: namesakes in a ZIP stay as rare at 10M records as
    at 1M. Below it, every ZIP is the city's own prefix, as before."""
    from sandbox.generator import PLACE_SET_PEOPLE, place_set_prefix
    from sandbox.names import PLACES

    sets = range(16)  # up to 10,240,000 humans
    prefixes = [place_set_prefix(p[2], s * PLACE_SET_PEOPLE) for p in PLACES for s in sets]
    assert len(set(prefixes)) == len(prefixes) and all(p.isdigit() for p in prefixes)
    assert [place_set_prefix(p[2], PLACE_SET_PEOPLE - 1) for p in PLACES] == [p[2] for p in PLACES]

    small = generate(300, 7)
    own = {p[0]: p[2] for p in PLACES}
    assert all(h.zip[:3] == own[h.city] for h in small.humans)
    later = generate(300, 7, small.today, first_human=PLACE_SET_PEOPLE)
    assert all(h.zip[:3] == place_set_prefix(own[h.city], PLACE_SET_PEOPLE) for h in later.humans)
    assert not {h.zip for h in small.humans} & {h.zip for h in later.humans}


def test_a_larger_organisation_spans_more_of_each_street():
    """Past PLACE_SET_PEOPLE humans, house numbers move on to another stretch of the same
    streets, so namesakes at one street address stay as rare at 10M records as at 1M (they
    had grown with the square of the organisation). The first set's numbers are as before:
    the same draws, so the 1M benchmark's organisation does not change."""
    from sandbox.generator import PLACE_SET_NUMBERS, PLACE_SET_PEOPLE, place_set_number

    assert place_set_number(1, 0) == 1 and place_set_number(9998, PLACE_SET_PEOPLE - 1) == 9998
    assert place_set_number(1, PLACE_SET_PEOPLE) == PLACE_SET_NUMBERS + 1

    small = generate(300, 7)
    assert all(1 <= h.street_number <= 9998 for h in small.humans)
    later = generate(300, 7, small.today, first_human=2 * PLACE_SET_PEOPLE)
    # The same draws: the third set's numbers are the first set's, moved on two stretches
    # (the people known only from paper sheets, after them, are drawn differently).
    assert [h.street_number for h in later.humans[:300]] == [
        h.street_number + 2 * PLACE_SET_NUMBERS for h in small.humans[:300]
    ]
