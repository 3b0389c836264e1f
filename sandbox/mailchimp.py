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

from sandbox.clock import Clock
from sandbox.generator import McMember, Organisation, subscriber_hash
from sandbox.httpserver import PlatformServer, Request, Response, Route

PREFIX = "/3.0"
MAX_COUNT = 1000
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
FAST_EXCLUDES = {"members._links", "_links"}


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


def member_json(m: McMember, list_id: str, api: str, tag_ids: dict[str, int]) -> dict[str, Any]:
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
        "merge_fields": {"FNAME": m.fname, "LNAME": m.lname, "ADDRESS": address, "PHONE": m.phone},
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
            doc = member_json(m, self.list_id, "", self.tag_ids)
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
            return member_json(m, self.list_id, "", self.tag_ids) if m else None

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
        routes = [
            Route("GET", "/", self.root),
            Route("GET", "/ping", self.ping),
            Route("GET", "/lists", self.lists),
            Route("GET", "/lists/{list_id}", self.get_list),
            Route("GET", "/lists/{list_id}/members", self.list_members),
            Route("GET", "/lists/{list_id}/members/{subscriber_hash}", self.get_member),
            Route("PUT", "/lists/{list_id}/members/{subscriber_hash}", self.put_member),
            Route("POST", "/lists/{list_id}/members/{subscriber_hash}/tags", self.post_tags),
        ]
        super().__init__(
            PREFIX,
            routes,
            authorise=self.authorise,
            throttled=self.too_many,
            max_concurrency=max_connections,
            latency=latency,
        )

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
            "name": "Sandbox Audience",
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
            count = min(MAX_COUNT, max(0, int(params.get("count", "10"))))
            offset = max(0, int(params.get("offset", "0")))
        except ValueError:
            return problem(400, "Invalid Resource", "count and offset must be integers.")
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
                member_json(m, self.state.list_id, api, self.state.tag_ids)
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
        if params.get("fields"):
            body = _keep(
                body, [f.strip().split(".") for f in params["fields"].split(",") if f.strip()]
            )
        for path in (params.get("exclude_fields") or "").split(","):
            if path.strip():
                _drop(body, path.strip().split("."))
        return Response(200, body)

    def get_member(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            return Response(
                200, member_json(m, self.state.list_id, request.base + PREFIX, self.state.tag_ids)
            )

    def put_member(self, request: Request) -> Response:
        missing = self._list_or_404(request)
        if missing:
            return missing
        body = request.body if isinstance(request.body, dict) else {}
        member_id = request.args["subscriber_hash"]
        with self.state.lock:
            m = self.state.by_id.get(member_id)
            status = body.get("status")
            if status and status not in STATUSES:
                return problem(400, "Invalid Resource", f"The status '{status}' is not valid.")
            if m is None:
                email = str(body.get("email_address") or "").strip()
                new_status = status or body.get("status_if_new")
                if not email or subscriber_hash(email) != member_id:
                    return problem(
                        400,
                        "Invalid Resource",
                        "The email address does not match the subscriber hash.",
                    )
                if not new_status:
                    return problem(
                        400,
                        "Invalid Resource",
                        "The resource submitted could not be validated: status_if_new is required.",
                    )
                now = self.state.clock.now()
                m = McMember(
                    email,
                    -1,
                    new_status,
                    "",
                    "",
                    "",
                    None,
                    now,
                    now,
                    100000 + len(self.state.members),
                )
                self.state.members.append(m)
                self.state.by_id[member_id] = m
            elif status:
                if status == "subscribed" and m.status in ("unsubscribed", "cleaned"):
                    return problem(
                        400,
                        "Member In Compliance State",
                        f"{m.email} is in a compliance state due to unsubscribe, bounce, or compliance "
                        "review and cannot be subscribed.",
                    )
                m.status = status
            merge = body.get("merge_fields") or {}
            m.fname = str(merge.get("FNAME", m.fname))
            m.lname = str(merge.get("LNAME", m.lname))
            m.phone = str(merge.get("PHONE", m.phone))
            m.last_changed = self.state.clock.now()
            self.state.version += 1
            return Response(
                200, member_json(m, self.state.list_id, request.base + PREFIX, self.state.tag_ids)
            )

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
        with self.state.lock:
            m = self.state.by_id.get(request.args["subscriber_hash"])
            if m is None:
                return self.not_found(request)
            for tag in tags:
                name = str((tag or {}).get("name") or "").strip()
                if not name:
                    return problem(400, "Invalid Resource", "Each tag needs a name.")
                if tag.get("status") == "inactive":
                    if name in m.tags:
                        m.tags.remove(name)
                elif name not in m.tags:
                    self.state._tag_id(name)
                    m.tags.append(name)
            # Tag changes do not move last_changed on the real API either.
            self.state._texts.pop(m.id, None)
        return Response(204)
