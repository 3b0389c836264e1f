"""A simulated Mailchimp Marketing API v3: one audience, members with the real shape,
problem+json errors, the compliance rule, and a cap on concurrent connections."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.audit import Audit, Refusal, add_controls, audited, note
from sandbox.batches import Batch, batch_json, parse_operations, result, tarball
from sandbox.campaigns import CLICK, HARD_BOUNCE, OPEN, McCampaign, Rows, ip_address, rows_after
from sandbox.clock import Clock
from sandbox.generator import McMember, Organisation, subscriber_hash
from sandbox.httpserver import Handler, PlatformServer, Request, Response, Route
from sandbox.mailchimp_lists import ListExtras

PREFIX = "/3.0"
MAX_COUNT = 1000
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
FAST_EXCLUDES = {"members._links", "_links"}
LIST_NAME = "Sandbox Audience"
DATA_CENTRE = "us21"
# merge_id, tag, name, type, options: the default audience's fields plus one of our own.
MergeSpec = tuple[int, str, str, str, dict[str, Any]]
MERGE_FIELDS: tuple[MergeSpec, ...] = (
    (1, "FNAME", "First Name", "text", {"size": 25}),
    (2, "LNAME", "Last Name", "text", {"size": 25}),
    (3, "ADDRESS", "Address", "address", {"default_country": 164}),
    (4, "PHONE", "Phone Number", "phone", {"phone_format": "US"}),
    (5, "TIER", "Tier", "text", {"size": 25}),
)
MERGE_TYPES = (
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
)
CAMPAIGN_STATUSES = ("save", "paused", "schedule", "sending", "sent")
CAMPAIGN_TYPES = ("regular", "plaintext", "absplit", "rss", "variate")
UNARCHIVABLE = ("cleaned", "pending", "archived")
ACTIVITY_CACHE = 64  # (campaign, since) selections kept; clients page one `since` at a time


def problem(status: int, title: str, detail: str) -> Response:
    body = {
        "type": ERROR_DOCS,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return Response(status, body, "application/problem+json; charset=utf-8")


def iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00") if moment else ""


def parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def member_json(
    m: McMember,
    list_id: str,
    api: str,
    tag_ids: dict[str, int],
    extra_tags: tuple[str, ...] = (),
) -> dict[str, Any]:
    member_id = m.id
    address: Any = ""
    if m.address:
        line, city, state, zip_code = m.address
        address = {
            "addr1": line,
            "addr2": "",
            "city": city,
            "state": state,
            "zip": zip_code,
            "country": "US",
        }
    return {
        "id": member_id,
        "email_address": m.email,
        "unique_email_id": member_id[:10],
        "contact_id": hashlib.md5(f"contact:{member_id}".encode()).hexdigest(),
        "full_name": f"{m.fname} {m.lname}".strip(),
        "web_id": m.web_id,
        "email_type": "html",
        "status": m.status,
        "consents_to_one_to_one_messaging": True,
        "merge_fields": {
            "FNAME": m.fname,
            "LNAME": m.lname,
            "ADDRESS": address,
            "PHONE": m.phone,
            "TIER": m.tier,
            # Fields created through the API: empty is "", as for the built-in ones.
            **{tag: m.extra.get(tag, "") for tag in extra_tags},
        },
        "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
        "ip_signup": "",
        "timestamp_signup": iso(m.signup),
        "ip_opt": "",
        "timestamp_opt": iso(m.signup) if m.status != "pending" else "",
        "member_rating": 2,
        "last_changed": iso(m.last_changed),
        "language": "",
        "vip": False,
        "email_client": "",
        "location": {
            "latitude": 0,
            "longitude": 0,
            "gmtoff": 0,
            "dstoff": 0,
            "country_code": "",
            "timezone": "",
            "region": "",
        },
        "marketing_permissions": [],
        "source": "API - Generic",
        "tags_count": len(m.tags),
        "tags": [{"id": tag_ids[name], "name": name} for name in m.tags],
        "list_id": list_id,
        "_links": [
            {"rel": "self", "href": f"{api}/lists/{list_id}/members/{member_id}", "method": "GET"},
            {
                "rel": "upsert",
                "href": f"{api}/lists/{list_id}/members/{member_id}",
                "method": "PUT",
            },
        ],
    }


def _drop(doc: Any, path: list[str]) -> None:
    if isinstance(doc, list):
        for item in doc:
            _drop(item, path)
    elif isinstance(doc, dict) and path:
        if len(path) == 1:
            doc.pop(path[0], None)
        elif path[0] in doc:
            _drop(doc[path[0]], path[1:])


def _keep(doc: Any, paths: list[list[str]]) -> Any:
    """Only the dotted paths asked for in `fields`."""
    if isinstance(doc, list):
        return [_keep(item, paths) for item in doc]
    if not isinstance(doc, dict):
        return doc
    kept: dict[str, Any] = {}
    for key, value in doc.items():
        matching = [p for p in paths if p and p[0] == key]
        if not matching:
            continue
        if any(len(p) == 1 for p in matching):
            kept[key] = value
        else:
            kept[key] = _keep(value, [p[1:] for p in matching])
    return kept


def shaped(body: dict[str, Any], params: dict[str, str]) -> Any:
    """`fields` (keep only these dotted paths) then `exclude_fields` (drop these)."""
    if params.get("fields"):
        body = _keep(body, [f.strip().split(".") for f in params["fields"].split(",") if f.strip()])
    for path in (params.get("exclude_fields") or "").split(","):
        if path.strip():
            _drop(body, path.strip().split("."))
    return body


def page_args(params: dict[str, str], default: int | None = 10) -> tuple[int | None, int]:
    """(count, offset) as Mailchimp reads them: count capped at 1000. ValueError if not
    integers; a None default means "all" when no count is sent."""
    count = params.get("count")
    chosen = default if count is None else min(MAX_COUNT, max(0, int(count)))
    return chosen, max(0, int(params.get("offset", "0")))


def merge_field_json(spec: MergeSpec, list_id: str, api: str) -> dict[str, Any]:
    merge_id, tag, name, kind, options = spec
    href = f"{api}/lists/{list_id}/merge-fields/{merge_id}"
    return {
        "merge_id": merge_id,
        "tag": tag,
        "name": name,
        "type": kind,
        "required": False,
        "default_value": "",
        "public": True,
        "display_order": merge_id + 1,  # EMAIL is always first
        "options": dict(options),
        "help_text": "",
        "list_id": list_id,
        "_links": [
            {"rel": "self", "href": href, "method": "GET"},
            {"rel": "parent", "href": f"{api}/lists/{list_id}/merge-fields", "method": "GET"},
        ],
    }


def campaign_json(c: McCampaign, list_id: str, api: str) -> dict[str, Any]:
    t = c.tally()
    href = f"{api}/campaigns/{c.id}"
    return {
        "id": c.id,
        "web_id": c.web_id,
        "type": "regular",
        "create_time": iso(c.create_time),
        "archive_url": f"http://eepurl.com/{c.id[:6]}",
        "long_archive_url": f"https://{DATA_CENTRE}.campaign-archive.com/?u=sandbox&id={c.id}",
        "status": "sent",
        "emails_sent": c.emails_sent,
        "send_time": iso(c.send_time),
        "content_type": "template",
        "needs_block_refresh": False,
        "resendable": False,
        "recipients": {
            "list_id": list_id,
            "list_is_active": True,
            "list_name": LIST_NAME,
            "segment_text": "",
            "recipient_count": c.emails_sent,
        },
        "settings": {
            "subject_line": c.subject,
            "preview_text": "",
            "title": c.title,
            "from_name": "Groundswell Sandbox",
            "reply_to": "hello@groundswell.example.org",
            "use_conversation": False,
            "to_name": "",
            "folder_id": "",
            "authenticate": True,
            "auto_footer": False,
            "inline_css": False,
            "auto_tweet": False,
            "fb_comments": False,
            "timewarp": False,
            "template_id": 0,
            "drag_and_drop": True,
        },
        "tracking": {
            "opens": True,
            "html_clicks": True,
            "text_clicks": False,
            "goal_tracking": False,
            "ecomm360": False,
            "google_analytics": "",
            "clicktale": "",
        },
        "report_summary": {
            "opens": t.opens,
            "unique_opens": t.unique_opens,
            "open_rate": t.rate(t.unique_opens, c.emails_sent),
            "clicks": t.clicks,
            "subscriber_clicks": t.unique_clicks,
            "click_rate": t.rate(t.unique_clicks, c.emails_sent),
        },
        "delivery_status": {"enabled": False},
        "_links": [
            {"rel": "parent", "href": f"{api}/campaigns", "method": "GET"},
            {"rel": "self", "href": href, "method": "GET"},
            {"rel": "content", "href": f"{href}/content", "method": "GET"},
            {"rel": "reports", "href": f"{api}/reports/{c.id}", "method": "GET"},
        ],
    }


def report_json(c: McCampaign, list_id: str, api: str) -> dict[str, Any]:
    t = c.tally()
    return {
        "id": c.id,
        "campaign_title": c.title,
        "type": "regular",
        "list_id": list_id,
        "list_is_active": True,
        "list_name": LIST_NAME,
        "subject_line": c.subject,
        "preview_text": "",
        "emails_sent": c.emails_sent,
        "abuse_reports": 0,
        "unsubscribed": 0,
        "send_time": iso(c.send_time),
        "bounces": {
            "hard_bounces": t.hard_bounces,
            "soft_bounces": t.soft_bounces,
            "syntax_errors": 0,
        },
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": {
            "opens_total": t.opens,
            "unique_opens": t.unique_opens,
            "open_rate": t.rate(t.unique_opens, c.emails_sent),
            "last_open": iso(t.last_open),
        },
        "clicks": {
            "clicks_total": t.clicks,
            "unique_clicks": t.unique_clicks,
            "unique_subscriber_clicks": t.unique_clicks,
            "click_rate": t.rate(t.unique_clicks, c.emails_sent),
            "last_click": iso(t.last_click),
        },
        "_links": [
            {"rel": "self", "href": f"{api}/reports/{c.id}", "method": "GET"},
            {
                "rel": "email-activity",
                "href": f"{api}/reports/{c.id}/email-activity",
                "method": "GET",
            },
        ],
    }


def event_json(c: McCampaign, member: McMember, index: int) -> dict[str, Any]:
    kind = c.kinds[index]
    if kind == OPEN:
        action, detail = "open", ""
    elif kind >= CLICK:
        action, detail = "click", ""
    else:
        action, detail = "bounce", "hard" if kind == HARD_BOUNCE else "soft"
    return {
        "action": action,
        "type": detail,
        "timestamp": iso(c.at(index)),
        "url": c.url(kind),
        "ip": "" if action == "bounce" else ip_address(member),
    }


def activity_json(
    c: McCampaign, list_id: str, email_id: str, member: McMember, events: list[int], api: str
) -> dict[str, Any]:
    return {
        "campaign_id": c.id,
        "list_id": list_id,
        "list_is_active": True,
        "email_id": email_id,
        "email_address": member.email,
        "activity": [event_json(c, member, i) for i in events],
        "_links": [
            {
                "rel": "parent",
                "href": f"{api}/reports/{c.id}/email-activity",
                "method": "GET",
            },
        ],
    }


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
                self._tag_id(name)
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

    def _tag_id(self, name: str) -> int:
        if name not in self.tag_ids:
            self.tag_ids[name] = 5_000_000 + len(self.tag_ids)
        return self.tag_ids[name]

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


class MailchimpServer(PlatformServer):
    def __init__(
        self,
        org: Organisation,
        api_key: str,
        list_id: str,
        *,
        max_connections: int = 10,
        latency: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self.api_key = api_key
        self.state = MailchimpState(org, list_id, clock or Clock(org.now))
        member = "/lists/{list_id}/members/{subscriber_hash}"
        routes = [
            Route("GET", "/", self.root),
            Route("GET", "/ping", self.ping),
            Route("GET", "/lists", self.lists),
            Route("GET", "/lists/{list_id}", self.get_list),
            Route("GET", "/lists/{list_id}/members", self.list_members),
            Route("GET", member, self.get_member),
            self._write("PUT", member, self.put_member),
            self._write("PATCH", member, self.patch_member),
            self._write("DELETE", member, self.archive_member),
            self._write("POST", f"{member}/actions/delete-permanent", self.delete_permanent),
            self._write("POST", f"{member}/tags", self.post_tags),
            Route("GET", "/lists/{list_id}/merge-fields", self.merge_fields),
            self._write("POST", "/lists/{list_id}/merge-fields", self.create_merge_field),
            Route("GET", "/lists/{list_id}/merge-fields/{merge_id}", self.merge_field),
            Route("GET", "/lists/{list_id}/tag-search", self.tag_search),
            Route("GET", "/campaigns", self.list_campaigns),
            Route("GET", "/campaigns/{campaign_id}", self.get_campaign),
            Route("GET", "/reports/{campaign_id}", self.get_report),
            Route("GET", "/reports/{campaign_id}/email-activity", self.email_activity),
            self._write("POST", "/batches", self.post_batch),
            Route("GET", "/batches", self.list_batches),
            Route("GET", "/batches/{batch_id}", self.get_batch),
        ]
        # Notes, segments, member tags, POST members and merge-field edits live there.
        self.extras = ListExtras(self)
        routes += self.extras.routes()
        super().__init__(
            PREFIX,
            routes,
            authorise=self.authorise,
            throttled=self.too_many,
            max_concurrency=max_connections,
            latency=latency,
        )
        add_controls(self.controls, self.state.audit, self.state.aliases)
        # Like an S3 link: served without the API key, outside the rate and connection caps.
        self.controls["GET /_sandbox/batch-results/{name}"] = self.batch_results

    def _write(self, method: str, template: str, handler: Handler) -> Route:
        """A write route: logged in the audit, and refused for refused members."""
        return Route(
            method,
            template,
            audited(self.state.audit, f"{method} {template}", handler, self._keys, self._refuse),
        )

    @staticmethod
    def _keys(request: Request) -> list[str]:
        """Who a write touches: the subscriber hash in the path, the email in the body."""
        body = request.body if isinstance(request.body, dict) else {}
        return [request.args.get("subscriber_hash", ""), str(body.get("email_address") or "")]

    @staticmethod
    def _refuse(refusal: Refusal) -> Response:
        return problem(refusal.status, refusal.title, refusal.detail)

    def authorise(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        key = ""
        if header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:]).decode("utf-8").split(":", 1)[1]
            except (ValueError, IndexError):
                key = ""
        elif header.lower().startswith(("bearer ", "apikey ")):
            key = header.split(" ", 1)[1].strip()
        if key != self.api_key:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        return None

    def too_many(self) -> Response:
        return problem(
            429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
        )

    def not_found(self, request: Request) -> Response:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def bad_page(self) -> Response:
        return problem(400, "Invalid Resource", "count and offset must be integers.")

    def bad_time(self, name: str) -> Response:
        return problem(400, "Invalid Resource", f"{name} must be an ISO 8601 time.")

    def _times(self, params: dict[str, str], *names: str) -> list[datetime | None] | Response:
        """The named time filters, None where absent, or a 400 naming the unreadable one."""
        times: list[datetime | None] = []
        for name in names:
            text = params.get(name) or ""
            moment = parse_time(text) if text else None
            if text and moment is None:
                return self.bad_time(name)
            times.append(moment)
        return times

    def _list_or_404(self, request: Request) -> Response | None:
        if request.args.get("list_id") != self.state.list_id:
            return self.not_found(request)
        return None

    def root(self, request: Request) -> Response:
        return Response(200, {"account_id": "sandbox", "account_name": "Groundswell Sandbox"})

    def ping(self, request: Request) -> Response:
        return Response(200, {"health_status": "Everything's Chimpy!"})

    def _list_json(self) -> dict[str, Any]:
        return {
            "id": self.state.list_id,
            "name": LIST_NAME,
            "stats": {"member_count": sum(m.status == "subscribed" for m in self.state.members)},
        }

    def lists(self, request: Request) -> Response:
        return Response(200, {"lists": [self._list_json()], "total_items": 1})

    def get_list(self, request: Request) -> Response:
        return self._list_or_404(request) or Response(200, self._list_json())

    def list_members(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        params = request.params
        try:
            count, offset = page_args(params)
        except ValueError:
            return self.bad_page()
        assert count is not None
        status = params.get("status", "")
        if status and status not in STATUSES:
            return problem(400, "Invalid Resource", f"The status '{status}' is not valid.")
        since = (
            parse_time(params["since_last_changed"]) if params.get("since_last_changed") else None
        )
        before = (
            parse_time(params["before_last_changed"]) if params.get("before_last_changed") else None
        )
        selected = self.state.selection(
            status, since, before, params.get("sort_field", ""), params.get("sort_dir", "ASC")
        )
        api = request.base + PREFIX
        excluded = {p.strip() for p in (params.get("exclude_fields") or "").split(",") if p.strip()}
        if not params.get("fields") and excluded <= FAST_EXCLUDES and "members._links" in excluded:
            # What sync clients ask for: members pre-serialised once, the page assembled.
            with self.state.lock:
                parts = [self.state.member_text(m) for m in selected[offset : offset + count]]
            head = f'{{"members":[{",".join(parts)}],"list_id":"{self.state.list_id}","total_items":{len(selected)}'
            links = (
                ""
                if "_links" in excluded
                else f',"_links":[{{"rel":"self","href":"{api}/lists/{self.state.list_id}/members","method":"GET"}}]'
            )
            return Response(200, (head + links + "}").encode("utf-8"))
        with self.state.lock:
            members = [
                member_json(m, self.state.list_id, api, self.state.tag_ids, self.state.extra_tags)
                for m in selected[offset : offset + count]
            ]
        body: dict[str, Any] = {
            "members": members,
            "list_id": self.state.list_id,
            "total_items": len(selected),
            "_links": [
                {
                    "rel": "self",
                    "href": f"{api}/lists/{self.state.list_id}/members",
                    "method": "GET",
                }
            ],
        }
        return Response(200, shaped(body, params))

    def get_member(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            return self._member_response(m, request)

    def put_member(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        body = request.body if isinstance(request.body, dict) else {}
        member_id = request.args["subscriber_hash"]
        write = note(request)
        with self.state.lock:
            m = self.state.by_id.get(member_id)
            status = body.get("status")
            write.status_sent = status or None
            if status and status not in STATUSES:
                return problem(400, "Invalid Resource", f"The status '{status}' is not valid.")
            if m is None and member_id in self.state.forgotten:
                email = str(body.get("email_address") or "").strip() or "This contact"
                return problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported. The contact "
                    "must re-subscribe to get back on the list.",
                )
            if m is None:
                created = self._new_member(body, member_id, status)
                if isinstance(created, Response):
                    return created
                m = created
                write.created, write.status_after = True, m.status
            elif status:
                if status == "subscribed" and m.status in ("unsubscribed", "cleaned"):
                    return problem(
                        400,
                        "Member In Compliance State",
                        f"{m.email} is in a compliance state due to unsubscribe, bounce, or compliance "
                        "review and cannot be subscribed.",
                    )
                write.status_before, write.status_after = m.status, status
                m.status = status
            write.email = m.email
            write.fields_set = self._set_merge_fields(m, body.get("merge_fields"))
            m.last_changed = self.state.clock.now()
            self.state.version += 1
            return self._member_response(m, request)

    def _member_response(self, m: McMember, request: Request) -> Response:
        return Response(
            200,
            member_json(
                m,
                self.state.list_id,
                request.base + PREFIX,
                self.state.tag_ids,
                self.state.extra_tags,
            ),
        )

    def patch_member(self, request: Request) -> Response:
        """PATCH updates an existing member only: an unknown one is a 404, never created."""
        missing = self._list_or_404(request)
        if missing:
            return missing
        with self.state.lock:
            known = request.args["subscriber_hash"] in self.state.by_id
        return self.put_member(request) if known else self.not_found(request)

    def _new_member(self, body: dict[str, Any], member_id: str, status: Any) -> McMember | Response:
        """The member a PUT creates, or the problem that stops it."""
        email = str(body.get("email_address") or "").strip()
        new_status = status or body.get("status_if_new")
        if not email or subscriber_hash(email) != member_id:
            return problem(
                400, "Invalid Resource", "The email address does not match the subscriber hash."
            )
        if not new_status:
            return problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated: status_if_new is required.",
            )
        if new_status not in STATUSES:
            return problem(400, "Invalid Resource", f"The status '{new_status}' is not valid.")
        now = self.state.clock.now()
        m = McMember(email, -1, new_status, "", "", "", None, now, now, self.state.new_web_id())
        self.state.members.append(m)
        self.state.by_id[member_id] = m
        return m

    def _set_merge_fields(self, m: McMember, merge: Any) -> dict[str, str]:
        """Only the fields sent change; returns them. Unknown tags are ignored (create the
        merge field first)."""
        if not isinstance(merge, dict):
            return {}
        built_in = {"FNAME": "fname", "LNAME": "lname", "PHONE": "phone", "TIER": "tier"}
        changed: dict[str, str] = {}
        for tag, value in merge.items():
            tag = str(tag).upper()
            if tag in built_in:
                setattr(m, built_in[tag], str(value))
            elif tag in self.state.extra_tags:
                m.extra[tag] = str(value)
            else:
                continue
            changed[tag] = str(value)
        return changed

    def post_tags(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        tags = (request.body or {}).get("tags") if isinstance(request.body, dict) else None
        if not isinstance(tags, list):
            return problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated: tags is required.",
            )
        write = note(request)
        # Recorded so a benchmark can check that syncs keep tag automations quiet.
        write.detail["is_syncing"] = bool(request.body.get("is_syncing", False))
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            write.email = m.email
            for tag in tags:
                name = str((tag or {}).get("name") or "").strip() if isinstance(tag, dict) else ""
                if not name:
                    return problem(400, "Invalid Resource", "Each tag needs a name.")
                if tag.get("status") == "inactive":
                    write.tags_removed.append(name)
                    if name in m.tags:
                        m.tags.remove(name)
                else:
                    write.tags_added.append(name)
                    if name not in m.tags:
                        self.state._tag_id(name)
                        m.tags.append(name)
            # Tag changes do not move last_changed on the real API either.
            self.state._texts.pop(m.id, None)
        return Response(204)

    def archive_member(self, request: Request) -> Response:
        """DELETE archives: the member stays, as `archived`, and last_changed moves."""
        missing = self._list_or_404(request)
        if missing:
            return missing
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            if m.status in UNARCHIVABLE:
                return problem(
                    405,
                    "Method Not Allowed",
                    "This list member cannot be removed. Can not archive a contact that is "
                    "bounced, pending or archived",
                )
            write = note(request)
            write.email, write.status_before, write.status_after = m.email, m.status, "archived"
            self.state.archive(m)
        return Response(204)

    def delete_permanent(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            write = note(request)
            write.email, write.status_before, write.detail["deleted"] = m.email, m.status, True
            self.state.forget([m])
        return Response(204)

    def merge_fields(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        try:
            count, offset = page_args(request.params)
        except ValueError:
            return self.bad_page()
        assert count is not None
        api, list_id = request.base + PREFIX, self.state.list_id
        body = {
            "merge_fields": [
                merge_field_json(spec, list_id, api)
                for spec in self.state.merge_fields[offset : offset + count]
            ],
            "list_id": list_id,
            "total_items": len(self.state.merge_fields),
            "_links": [
                {"rel": "self", "href": f"{api}/lists/{list_id}/merge-fields", "method": "GET"}
            ],
        }
        return Response(200, shaped(body, request.params))

    def merge_field(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        wanted = request.args["merge_id"]
        spec = next((f for f in self.state.merge_fields if str(f[0]) == wanted), None)
        if spec is None:
            return self.not_found(request)
        body = merge_field_json(spec, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def create_merge_field(self, request: Request) -> Response:
        """`POST /lists/{id}/merge-fields`: name and type required; tag defaults to
        MMERGE<n>, is upper-cased, at most 10 characters and unique in the audience."""
        missing = self._list_or_404(request)
        if missing:
            return missing
        body = request.body if isinstance(request.body, dict) else {}
        name, kind = str(body.get("name") or "").strip(), str(body.get("type") or "").strip()
        if not name or kind not in MERGE_TYPES:
            return problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated: name and a valid type are required.",
            )
        with self.state.lock:
            next_id = max(spec[0] for spec in self.state.merge_fields) + 1
            tag = str(body.get("tag") or f"MMERGE{next_id}").strip().upper()
            if len(tag) > 10 or not tag.replace("_", "").isalnum():
                return problem(400, "Invalid Resource", f'The tag "{tag}" is not valid.')
            if any(spec[1] == tag for spec in self.state.merge_fields):
                return problem(
                    400,
                    "Invalid Resource",
                    f'A Merge Field with the tag "{tag}" already exists for this list.',
                )
            spec = self.state.add_merge_field(tag, name, kind)
        note(request).detail["merge_field"] = tag
        return Response(200, merge_field_json(spec, self.state.list_id, request.base + PREFIX))

    def post_batch(self, request: Request) -> Response:
        """Accept the operations and run them in the background, as the real API does."""
        operations = parse_operations(request.body)
        if isinstance(operations, str):
            return problem(400, "Invalid Resource", operations)
        batch = Batch(uuid.uuid4().hex[:10], operations, self.state.clock.now())
        with self.state.lock:
            self.state.batches[batch.id] = batch
            body = batch_json(batch, request.base + PREFIX, iso)
        note(request).detail["batch_id"] = batch.id
        threading.Thread(target=self._run_batch, args=(batch, request.base), daemon=True).start()
        return Response(200, body)

    def _run_batch(self, batch: Batch, base: str) -> None:
        """Each operation through this server's own routes (audit and refusals included),
        then the results tarball, then `finished`."""
        batch.status = "started"
        for op in batch.operations:
            status, data = self._run_operation(op, batch.id, base)
            batch.results.append(result(status, op.operation_id, data))
            batch.finished_operations += 1
            if status >= 400:
                batch.errored_operations += 1
        with self.state.lock:
            self.state.batch_results[batch.id] = tarball(batch.id, batch.results)
            batch.completed_at = self.state.clock.now()
            batch.response_body_url = f"{base}/_sandbox/batch-results/{batch.id}.tar.gz"
            batch.status = "finished"

    def _run_operation(self, op: Any, batch_id: str, base: str) -> tuple[int, bytes]:
        path = op.path[len(PREFIX) :] if op.path.startswith(PREFIX + "/") else op.path
        try:
            body = json.loads(op.body) if op.body else None
        except ValueError:
            return 400, self._problem_bytes(400, "Invalid Resource", "The body is not JSON.")
        route, args = self._match(op.method, path.split("?", 1)[0])
        if route is None or path.startswith("/batches"):
            return 404, self._problem_bytes(
                404, "Resource Not Found", "The requested resource could not be found."
            )
        request = Request(op.method, path, op.params, {}, body, base, args, {"batch_id": batch_id})
        try:
            response = route.handler(request)
        except Exception as exc:  # one bad operation must not sink the batch
            return 500, self._problem_bytes(500, "Internal Server Error", str(exc))
        return response.status, response.encoded()

    @staticmethod
    def _problem_bytes(status: int, title: str, detail: str) -> bytes:
        return problem(status, title, detail).encoded()

    def list_batches(self, request: Request) -> Response:
        try:
            count, offset = page_args(request.params)
        except ValueError:
            return self.bad_page()
        assert count is not None
        api = request.base + PREFIX
        with self.state.lock:
            batches = list(self.state.batches.values())
            page = [batch_json(b, api, iso) for b in batches[offset : offset + count]]
        body = {
            "batches": page,
            "total_items": len(batches),
            "_links": [{"rel": "self", "href": f"{api}/batches", "method": "GET"}],
        }
        return Response(200, shaped(body, request.params))

    def get_batch(self, request: Request) -> Response:
        with self.state.lock:
            batch = self.state.batches.get(request.args["batch_id"])
            if batch is None:
                return self.not_found(request)
            body = batch_json(batch, request.base + PREFIX, iso)
        return Response(200, shaped(body, request.params))

    def batch_results(self, request: Request) -> Response:
        """The tarball behind `response_body_url`; no API key, like a signed S3 link."""
        name = request.args.get("name", "")
        data = self.state.batch_results.get(name.removesuffix(".tar.gz"))
        if data is None or not name.endswith(".tar.gz"):
            return Response(404, "NoSuchKey", "text/plain")
        return Response(200, data, "application/x-gzip")

    def tag_search(self, request: Request) -> Response:
        """Every tag the audience has ever had (a tag outlives its last member), filtered
        by `name` anywhere in it, case-insensitively. No count means all of them."""
        missing = self._list_or_404(request)
        if missing:
            return missing
        try:
            count, offset = page_args(request.params, default=None)
        except ValueError:
            return self.bad_page()
        wanted = (request.params.get("name") or "").strip().lower()
        with self.state.lock:
            tags = [
                {"id": tag_id, "name": name}
                for name, tag_id in self.state.tag_ids.items()
                if wanted in name.lower() and name not in self.extras.deleted_tags
            ]
        end = None if count is None else offset + count
        body = {"tags": tags[offset:end], "total_items": len(tags)}
        return Response(200, shaped(body, request.params))

    def list_campaigns(self, request: Request) -> Response:
        params = request.params
        try:
            count, offset = page_args(params)
        except ValueError:
            return self.bad_page()
        assert count is not None
        status, kind = params.get("status", ""), params.get("type", "")
        if status and status not in CAMPAIGN_STATUSES:
            return problem(400, "Invalid Resource", f"The status '{status}' is not valid.")
        if kind and kind not in CAMPAIGN_TYPES:
            return problem(400, "Invalid Resource", f"The type '{kind}' is not valid.")
        sort = params.get("sort_field", "")
        if sort not in ("", "create_time", "send_time"):
            return problem(400, "Invalid Resource", f"The sort_field '{sort}' is not valid.")
        times = self._times(
            params, "since_send_time", "before_send_time", "since_create_time", "before_create_time"
        )
        if isinstance(times, Response):
            return times
        # Every simulated campaign is a sent regular one to this audience.
        if status not in ("", "sent") or kind not in ("", "regular"):
            chosen: list[McCampaign] = []
        elif params.get("list_id") and params["list_id"] != self.state.list_id:
            chosen = []
        else:
            chosen = self.state.campaign_selection(*times, sort, params.get("sort_dir", "ASC"))
        api = request.base + PREFIX
        with self.state.lock:
            page = [
                campaign_json(c, self.state.list_id, api) for c in chosen[offset : offset + count]
            ]
        body = {
            "campaigns": page,
            "total_items": len(chosen),
            "_links": [{"rel": "self", "href": f"{api}/campaigns", "method": "GET"}],
        }
        return Response(200, shaped(body, params))

    def _campaign_or_404(self, request: Request) -> McCampaign | Response:
        c = self.state.campaign_by_id.get(request.args["campaign_id"])
        return c if c is not None else self.not_found(request)

    def get_campaign(self, request: Request) -> Response:
        c = self._campaign_or_404(request)
        if isinstance(c, Response):
            return c
        with self.state.lock:
            body = campaign_json(c, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def get_report(self, request: Request) -> Response:
        c = self._campaign_or_404(request)
        if isinstance(c, Response):
            return c
        with self.state.lock:
            body = report_json(c, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def email_activity(self, request: Request) -> Response:
        """Per recipient, their opens, clicks and bounces strictly after `since`; recipients
        with none left are not listed, and total_items counts the rows that are."""
        c = self._campaign_or_404(request)
        if isinstance(c, Response):
            return c
        params = request.params
        try:
            count, offset = page_args(params)
        except ValueError:
            return self.bad_page()
        assert count is not None
        times = self._times(params, "since")
        if isinstance(times, Response):
            return times
        api, list_id = request.base + PREFIX, self.state.list_id
        rows = self.state.activity_rows(c, times[0])
        with self.state.lock:
            emails = []
            for row in range(offset, min(len(rows), offset + count)):
                events = rows.events(row)
                member = c.who[events[0]]
                emails.append(activity_json(c, list_id, member.id, member, events, api))
        body = {
            "emails": emails,
            "campaign_id": c.id,
            "total_items": len(rows),
            "_links": [
                {"rel": "self", "href": f"{api}/reports/{c.id}/email-activity", "method": "GET"},
                {"rel": "parent", "href": f"{api}/reports/{c.id}", "method": "GET"},
            ],
        }
        return Response(200, shaped(body, params))
