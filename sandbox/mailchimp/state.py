"""The simulated Mailchimp's data: one audience's members, tags, merge fields, campaigns,
batches, notes, events and segments in memory, and the changes the routes make to them."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from sandbox.audit import Audit
from sandbox.campaigns import McCampaign, Rows, rows_after
from sandbox.clock import Clock
from sandbox.generator import Organisation
from sandbox.mailchimp.batches import Batch
from sandbox.mailchimp.shapes import MERGE_FIELDS, MergeSpec, member_json
from sandbox.records import McMember, subscriber_hash

ACTIVITY_CACHE = 64  # (campaign, since) selections kept; clients page one `since` at a time
BUILT_IN = {"FNAME": "fname", "LNAME": "lname", "PHONE": "phone", "TIER": "tier"}


class MailchimpState:
    """One audience's members in memory, for the life of the process."""

    def __init__(self, org: Organisation, list_id: str, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.list_id = list_id
        self.members: list[McMember] = list(org.mc_members)
        self.by_id = {m.id: m for m in self.members}
        self.tag_ids: dict[str, int] = {}
        for m in self.members:
            for name in m.tags:
                self.tag_id(name)
        self.version = 0
        self._cache: dict[tuple, tuple[int, list[McMember]]] = {}
        self._texts: dict[str, str] = {}
        self._text_version = 0
        self.campaigns: list[McCampaign] = list(org.mc_campaigns)
        self.campaign_by_id = {c.id: c for c in self.campaigns}
        # Permanently deleted addresses (subscriber hashes): they can never be re-imported.
        self.forgotten: set[str] = set()
        self._activity: dict[tuple[str, datetime | None], tuple[int, Rows]] = {}
        # Members created by PUT get web ids of their own, clear of the generator's.
        self._next_web_id = 50_000_000
        self.merge_fields: list[MergeSpec] = list(MERGE_FIELDS)
        self.extra_tags: tuple[str, ...] = ()  # tags of merge fields created by the API
        self.audit = Audit("mailchimp")
        self.batches: dict[str, Batch] = {}
        self.batch_results: dict[str, bytes] = {}  # batch id -> its gzipped tar
        self.notes: dict[str, list[dict[str, Any]]] = {}  # subscriber hash -> its notes
        self.saved: dict[int, dict[str, Any]] = {}  # saved (condition) segments by id
        self.deleted_tags: set[str] = set()
        self.made: dict[str, str] = {}  # tag name -> created_at, for segments made here
        self.events: dict[str, list[dict[str, Any]]] = {}  # subscriber hash -> its events
        self._next_id = 0

    def violations(self, namespace: str) -> list[str]:
        """What a sync must never have done here (see sandbox.audit.violations)."""
        return self.audit.violations(namespace)

    def aliases(self, key: str) -> list[str]:
        """Every name a refused member goes by: an email's hash, a hash's email."""
        key = key.strip()
        if "@" in key:
            return [subscriber_hash(key)]
        with self.lock:
            m = self.by_id.get(key.lower())
            return [m.email] if m else []

    def add_merge_field(self, tag: str, name: str, kind: str) -> MergeSpec:
        with self.lock:
            merge_id = max(spec[0] for spec in self.merge_fields) + 1
            spec: MergeSpec = (merge_id, tag, name, kind, {"size": 25} if kind == "text" else {})
            self.merge_fields.append(spec)
            self.extra_tags = (*self.extra_tags, tag)
            self.version += 1  # every member's JSON gains the field
            return spec

    def tag_id(self, name: str) -> int:
        if name not in self.tag_ids:
            self.tag_ids[name] = 5_000_000 + len(self.tag_ids)
        return self.tag_ids[name]

    def new_id(self) -> int:
        """The next note or saved-segment number."""
        self._next_id += 1
        return self._next_id

    def live_tags(self) -> list[str]:
        """Every tag the audience has had, less the deleted ones (static segments)."""
        return [t for t in self.tag_ids if t not in self.deleted_tags]

    def tag_members(self, name: str) -> list[McMember]:
        return [m for m in self.members if name in m.tags]

    def set_tag(self, m: McMember, name: str, on: bool) -> bool:
        """Tag or untag one member; True if anything changed."""
        if on == (name in m.tags):
            return False
        if on:
            self.tag_id(name)
            m.tags.append(name)
        else:
            m.tags.remove(name)
        self.touched(m)  # its cached JSON lists its tags
        return True

    def add_member(self, email: str, member_id: str, status: str) -> McMember:
        """A new member on the audience, signed up now."""
        now = self.clock.now()
        m = McMember(email, -1, status, "", "", "", None, now, now, self.new_web_id())
        self.members.append(m)
        self.by_id[member_id] = m
        return m

    def set_merge_fields(self, m: McMember, merge: Any) -> dict[str, str]:
        """Only the fields sent change; returns them. Unknown tags are ignored (create the
        merge field first)."""
        if not isinstance(merge, dict):
            return {}
        changed: dict[str, str] = {}
        for tag, value in merge.items():
            tag = str(tag).upper()
            if tag in BUILT_IN:
                setattr(m, BUILT_IN[tag], str(value))
            elif tag in self.extra_tags:
                m.extra[tag] = str(value)
            else:
                continue
            changed[tag] = str(value)
        return changed

    def touched(self, m: McMember) -> None:
        """Drop one member's cached JSON after a change that does not move the version."""
        self._texts.pop(m.id, None)

    def member_text(self, m: McMember) -> str:
        """A member's JSON without `_links`, cached until the state changes."""
        if self._text_version != self.version:
            self._texts.clear()
            self._text_version = self.version
        text = self._texts.get(m.id)
        if text is None:
            doc = member_json(m, self.list_id, "", self.tag_ids, self.extra_tags)
            del doc["_links"]
            text = self._texts[m.id] = json.dumps(doc)
        return text

    def warm(self) -> None:
        """Serialise every member now: a real platform's page time is spread over many
        servers, so a benchmark should not measure this one process's JSON encoding."""
        with self.lock:
            for m in self.members:
                self.member_text(m)

    def member(self, member_id: str) -> dict[str, Any] | None:
        """One member as JSON (for test assertions)."""
        with self.lock:
            m = self.by_id.get(member_id)
            return member_json(m, self.list_id, "", self.tag_ids, self.extra_tags) if m else None

    def new_web_id(self) -> int:
        self._next_web_id += 1
        return self._next_web_id

    def add_campaign(self, c: McCampaign) -> None:
        with self.lock:
            self.campaigns.append(c)
            self.campaign_by_id[c.id] = c

    def archive(self, m: McMember) -> None:
        with self.lock:
            m.status = "archived"
            m.last_changed = self.clock.now()
            self.version += 1

    def purge_batches(self) -> list[str]:
        """Drop every batch and its results, as Mailchimp does a few days after they ran
        (GET /batches/{id} then answers its JSON 404); returns the ids dropped."""
        with self.lock:
            purged = list(self.batches)
            self.batches.clear()
            self.batch_results.clear()
            return purged

    def forget(self, members: list[McMember]) -> None:
        """Delete permanently: gone from the audience, the address refused from now on.
        Their past campaign activity stays in the reports (the totals count it)."""
        with self.lock:
            gone = {id(m) for m in members}
            self.members[:] = [m for m in self.members if id(m) not in gone]
            for m in members:
                self.by_id.pop(m.id, None)
                self._texts.pop(m.id, None)
                self.forgotten.add(m.id)
            self.version += 1

    def campaign_selection(
        self,
        since: datetime | None,
        before: datetime | None,
        since_created: datetime | None,
        before_created: datetime | None,
        sort: str,
        direction: str,
    ) -> list[McCampaign]:
        """Sent campaigns in the send and create windows (both ends exclusive), in creation
        order unless sorted; the sort is stable, so offset pages never overlap."""
        with self.lock:
            chosen = [
                c
                for c in self.campaigns
                if (since is None or c.send_time > since)
                and (before is None or c.send_time < before)
                and (since_created is None or c.create_time > since_created)
                and (before_created is None or c.create_time < before_created)
            ]
        if sort:
            chosen.sort(key=lambda c: getattr(c, sort), reverse=direction.upper() == "DESC")
        return chosen

    def activity_rows(self, c: McCampaign, since: datetime | None) -> Rows:
        """The campaign's recipients with events after `since`, cached until it gains
        events (they are only ever appended, so their count is a version)."""
        key = (c.id, since)
        with self.lock:
            cached = self._activity.get(key)
            if cached and cached[0] == c.events:
                return cached[1]
            rows = rows_after(c, since)
            if len(self._activity) >= ACTIVITY_CACHE:
                self._activity.clear()
            self._activity[key] = (c.events, rows)
            return rows

    def selection(
        self,
        status: str,
        since: datetime | None,
        before: datetime | None,
        sort: str,
        direction: str,
    ) -> list[McMember]:
        key = (status, since, before, sort, direction)
        with self.lock:
            cached = self._cache.get(key)
            if cached and cached[0] == self.version:
                return cached[1]
            result = [
                m
                for m in self.members
                if (not status or m.status == status)
                and (since is None or m.last_changed > since)
                and (before is None or m.last_changed < before)
            ]
            if sort == "last_changed":
                result.sort(key=lambda m: m.last_changed, reverse=direction.upper() == "DESC")
            elif sort == "timestamp_signup":
                result.sort(key=lambda m: m.signup, reverse=direction.upper() == "DESC")
            self._cache[key] = (self.version, result)
            return result
