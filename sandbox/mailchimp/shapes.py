"""The JSON the simulated Mailchimp answers with: members, merge fields, campaigns,
reports, email activity, notes, and problem+json errors; `fields`/`exclude_fields`
shaping and paging arguments. Pure functions and constants: no state, no routes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.campaigns import CLICK, HARD_BOUNCE, OPEN, McCampaign, ip_address
from sandbox.httpserver import Response
from sandbox.records import McMember

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


def links(href: str, parent: str) -> list[dict[str, str]]:
    """A resource's `self` and `parent` links."""
    return [
        {"rel": "self", "href": href, "method": "GET"},
        {"rel": "parent", "href": parent, "method": "GET"},
    ]


def note_json(n: dict[str, Any], m: McMember, list_id: str, api: str) -> dict[str, Any]:
    """One member note."""
    base = f"{api}/lists/{list_id}/members/{m.id}/notes"
    return {
        "id": n["id"],
        "created_at": iso(n["created_at"]),
        "created_by": "Groundswell Sandbox",
        "updated_at": iso(n["updated_at"]),
        "note": n["note"],
        "list_id": list_id,
        "email_id": m.id,
        "contact_id": hashlib.md5(f"contact:{m.id}".encode()).hexdigest(),
        "_links": links(f"{base}/{n['id']}", base),
    }


def batch_error(email: str, code: str, error: str) -> dict[str, str]:
    """One address a batch subscribe could not take."""
    return {
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": "",
        "field_message": "",
    }
