"""Moving the sandbox organisation forward in time: new people join, records change,
some people unsubscribe, so incremental syncs have something real to find; and people on
Groundswell's pushed lists answer their asks (sandbox.asks), a truth to measure against."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from typing import Any

from sandbox.action_network.state import ActionNetworkState
from sandbox.actions import add_actions, mark_attendance
from sandbox.asks import ASKS, AskRound, ListAsk, make_asks, tagged
from sandbox.campaigns import late_activity, new_campaign, send
from sandbox.clock import Clock
from sandbox.generator import Organisation, add_appearances, add_referrals, make_human
from sandbox.mailchimp.state import MailchimpState

NEW_PER_DAY = 0.002  # of the organisation's size
MODIFIED_PER_DAY = 0.01
UNSUBSCRIBED_PER_DAY = 0.003
ACTING_PER_DAY = 0.01
CAMPAIGN_EVERY_DAYS = 7
LATE_DAYS = 3  # a campaign sent this recently still gathers opens...
LATE_OPENS_PER_DAY = 0.01  # ...from this share of its audience a day
DELETED_PER_DAY = 0.0005  # of the audience, permanently deleted
REFERRAL_CODE = re.compile(r"ref-[0-9a-z-]+")


def advance(
    org: Organisation,
    an: ActionNetworkState,
    mc: MailchimpState,
    clock: Clock,
    days: float,
    rng: random.Random,
) -> dict[str, Any]:
    """Advance the clock by `days` and make that much organising happen."""
    return advance_with_asks(org, an, mc, clock, days, rng)[0]


def advance_with_asks(
    org: Organisation,
    an: ActionNetworkState,
    mc: MailchimpState,
    clock: Clock,
    days: float,
    rng: random.Random,
    asks: tuple[ListAsk, ...] = ASKS,
) -> tuple[dict[str, Any], AskRound]:
    """advance(), also returning the asks' truth (sandbox.asks): who carried each pushed
    list's tag at the start, who said yes and acted, who did what the list asks."""
    start, end = clock.advance(days)
    round_ = AskRound(asks, start, end)
    span = max(1, int((end - start).total_seconds()))

    def moment():
        return start + timedelta(seconds=rng.randrange(span))

    size = max(1, len(org.humans))
    with an.lock, mc.lock:
        # Who is on each pushed list is read before anything changes; no draw.
        round_.asked = tagged(asks, an, mc)
        joined = max(1, round(size * NEW_PER_DAY * days))
        an_before, mc_before = len(org.an_people), len(org.mc_members)
        google_before = len(org.google_rows)
        _adopt_written_codes(org, an)
        for _ in range(joined):
            index = len(org.humans)
            org.humans.append(make_human(rng, index, org.humans, moment()))
            add_appearances(rng, org, index, end)
        actions_before = sum(len(v) for v in org.organising.actions.values())
        for person in org.an_people[an_before:]:
            an.people.append(person)
            an.by_uuid[person.uuid] = person
            add_actions(rng, org.organising, person, end)
        # Existing people act again: their new actions fall inside the window.
        for person in rng.sample(
            an.people, min(len(an.people), round(len(an.people) * ACTING_PER_DAY * days))
        ):
            add_actions(rng, org.organising, person, end, since=start)
        new_actions = sum(len(v) for v in org.organising.actions.values()) - actions_before
        for member in org.mc_members[mc_before:]:
            mc.members.append(member)
            mc.by_id[member.id] = member
        changed_an = rng.sample(
            an.people, min(len(an.people), round(len(an.people) * MODIFIED_PER_DAY * days))
        )
        for person in changed_an:
            person.modified = moment()
            if person.address and rng.random() < 0.3:
                line, city, state, _ = person.address
                person.address = (line, city, state, f"{rng.randrange(10000, 99999)}")
        changed_mc = rng.sample(
            mc.members, min(len(mc.members), round(len(mc.members) * MODIFIED_PER_DAY * days))
        )
        for member in changed_mc:
            member.last_changed = moment()
        subscribed = [m for m in mc.members if m.status == "subscribed"]
        leaving = rng.sample(
            subscribed, min(len(subscribed), round(len(mc.members) * UNSUBSCRIBED_PER_DAY * days))
        )
        for member in leaving:
            member.status = "unsubscribed"
            member.last_changed = moment()
        # Mailchimp engagement last, so the draws above stay what they were before it.
        sent, activity = _campaigns(mc, rng, start, end, days)
        deleting = round(len(mc.members) * DELETED_PER_DAY * days)
        gone = rng.sample(mc.members, min(len(mc.members), max(deleting, int(days >= 1))))
        mc.forget(gone)
        # Last again, for the same reason: the draws above stay as they were.
        attended = mark_attendance(rng, org.organising, end)
        add_referrals(rng, org, google_before)
        # The asks last of all, so every draw above stays what it was without them.
        make_asks(round_, org, an, rng)
        an.version += 1
        mc.version += 1
    counts = {
        "now": end.isoformat(),
        "people_joined": joined,
        "action_network_new": len(org.an_people) - an_before,
        "action_network_modified": len(changed_an),
        "mailchimp_new": len(org.mc_members) - mc_before,
        "mailchimp_modified": len(changed_mc),
        "mailchimp_unsubscribed": len(leaving),
        "action_network_actions": new_actions + round_.actions_made,
        "mailchimp_campaigns_sent": sent,
        "mailchimp_activity_events": activity,
        "mailchimp_deleted": len(gone),
        "action_network_attendance_marked": attended,
        "asks": round_.counts(),
    }
    return counts, round_


def _adopt_written_codes(org: Organisation, an: ActionNetworkState) -> None:
    """Referral codes Groundswell wrote back to people as custom fields start turning up
    in new actions' `source`, as they would once shared."""
    pool = org.organising.codes
    known = set(pool)
    for person in an.people:
        for value in person.custom_fields.values():
            code = str(value).strip()
            if code not in known and REFERRAL_CODE.fullmatch(code):
                pool.append(code)
                known.add(code)


def _campaigns(
    mc: MailchimpState, rng: random.Random, start: datetime, end: datetime, days: float
) -> tuple[int, int]:
    """Late opens on campaigns sent in the LATE_DAYS before the window, then the campaigns
    due in it (one a week, at least one in a day or more), each sent early in its slot to
    whoever is subscribed then. Every event falls in (start, end]. Returns (sent, events)."""
    events = 0
    for c in [c for c in mc.campaigns if start - timedelta(days=LATE_DAYS) <= c.send_time < start]:
        audience = [m for m in mc.members if m.status == "subscribed" and m.signup <= c.send_time]
        share = LATE_OPENS_PER_DAY * min(days, LATE_DAYS)
        events += late_activity(rng, c, audience, start, end, share)
    due = int(days // CAMPAIGN_EVERY_DAYS)
    newest = max((c.send_time for c in mc.campaigns), default=None)
    if days >= 1 or newest is None or end - newest >= timedelta(days=CAMPAIGN_EVERY_DAYS):
        due = max(1, due)
    slot = int((end - start).total_seconds()) // max(1, due)
    for n in range(due):
        # In the first half of its slot, so some of its activity falls in the window too.
        send_time = start + timedelta(seconds=n * slot + rng.randrange(1, max(2, slot // 2)))
        recipients = [m for m in mc.members if m.status == "subscribed" and m.signup <= send_time]
        c = new_campaign(rng, len(mc.campaigns), send_time)
        events += send(rng, c, recipients, end)
        mc.add_campaign(c)
    return due, events
