"""More of the simulated Mailchimp audience: member notes, member tags read back, segments
(static ones are tags, as on the real API), POST members, and merge-field edits."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sandbox.audit import note
from sandbox.generator import McMember, subscriber_hash
from sandbox.httpserver import Request, Response, Route

if TYPE_CHECKING:
    from sandbox.mailchimp import MailchimpServer

LIST = "/lists/{list_id}"
MEMBER = LIST + "/members/{subscriber_hash}"
SEGMENT = LIST + "/segments/{segment_id}"


def _links(href: str, parent: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": href, "method": "GET"},
        {"rel": "parent", "href": parent, "method": "GET"},
    ]


class ListExtras:
    """Notes, segments and the other audience routes, over one MailchimpServer's state."""

    def __init__(self, server: MailchimpServer) -> None:
        self.server = server
        self.notes: dict[str, list[dict[str, Any]]] = {}  # subscriber hash -> its notes
        self.saved: dict[int, dict[str, Any]] = {}  # saved (condition) segments by id
        self.deleted_tags: set[str] = set()
        self.made: dict[str, str] = {}  # tag name -> created_at, for segments made here
        self.events: dict[str, list[dict[str, Any]]] = {}  # subscriber hash -> its events
        self._next_id = 0

    def routes(self) -> list[Route]:
        """Every route this module answers; writes go through the server's audit."""
        w = self.server._write
        return [
            w("POST", LIST + "/members", self.add_member),
            # Each member of a batch subscribe goes through the audited PUT route.
            Route("POST", LIST, self.batch_members),
            Route("GET", MEMBER + "/activity", self.member_activity),
            Route("GET", MEMBER + "/activity-feed", self.member_activity_feed),
            Route("GET", MEMBER + "/goals", self.member_goals),
            Route("GET", MEMBER + "/events", self.list_events),
            w("POST", MEMBER + "/events", self.create_event),
            Route("GET", MEMBER + "/tags", self.member_tags),
            Route("GET", MEMBER + "/notes", self.list_notes),
            w("POST", MEMBER + "/notes", self.create_note),
            Route("GET", MEMBER + "/notes/{note_id}", self.get_note),
            w("PATCH", MEMBER + "/notes/{note_id}", self.update_note),
            w("DELETE", MEMBER + "/notes/{note_id}", self.delete_note),
            w("PATCH", LIST + "/merge-fields/{merge_id}", self.update_merge_field),
            w("DELETE", LIST + "/merge-fields/{merge_id}", self.delete_merge_field),
            Route("GET", LIST + "/segments", self.list_segments),
            w("POST", LIST + "/segments", self.create_segment),
            Route("GET", SEGMENT, self.get_segment),
            w("PATCH", SEGMENT, self.update_segment),
            w("POST", SEGMENT, self.batch_segment),
            w("DELETE", SEGMENT, self.delete_segment),
            Route("GET", SEGMENT + "/members", self.segment_members),
            w("POST", SEGMENT + "/members", self.add_segment_member),
            w("DELETE", SEGMENT + "/members/{subscriber_hash}", self.remove_segment_member),
        ]

    # -- helpers -------------------------------------------------------------------------

    def _api(self, request: Request) -> str:
        from sandbox.mailchimp import PREFIX

        return request.base + PREFIX

    def _problem(self, status: int, title: str, detail: str) -> Response:
        from sandbox.mailchimp import problem

        return problem(status, title, detail)

    def _page(self, request: Request) -> tuple[int, int] | Response:
        from sandbox.mailchimp import page_args

        try:
            count, offset = page_args(request.params)
        except ValueError:
            return self.server.bad_page()
        return (count or 0), offset

    def _member(self, request: Request) -> McMember | Response:
        """The path's member, or the 404 for an unknown list or member."""
        missing = self.server._list_or_404(request)
        if missing:
            return missing
        m = self.server.state.by_id.get(request.args["subscriber_hash"].lower())
        return m if m is not None else self.server.not_found(request)

    def _body(self, request: Request) -> dict[str, Any]:
        return request.body if isinstance(request.body, dict) else {}

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _tag_members(self, name: str) -> list[McMember]:
        return [m for m in self.server.state.members if name in m.tags]

    def _set_tag(self, m: McMember, name: str, on: bool) -> bool:
        """Tag or untag one member; True if anything changed."""
        if on == (name in m.tags):
            return False
        if on:
            self.server.state._tag_id(name)
            m.tags.append(name)
        else:
            m.tags.remove(name)
        self.server.state._texts.pop(m.id, None)  # its cached JSON lists its tags
        return True

    # -- members and their tags ----------------------------------------------------------

    def add_member(self, request: Request) -> Response:
        """`POST /members`: creates only; an address already on the audience is a 400."""
        missing = self.server._list_or_404(request)
        if missing:
            return missing
        body = self._body(request)
        email = str(body.get("email_address") or "").strip()
        member_id = subscriber_hash(email) if email else ""
        state = self.server.state
        with state.lock:
            if member_id in state.by_id:
                return self._problem(
                    400,
                    "Member Exists",
                    "This address is already a list member. Use PUT to insert or update "
                    "list members.",
                )
            if member_id in state.forgotten:
                return self._problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    "This contact was permanently deleted and cannot be re-imported.",
                )
            if body.get("status") is None:
                return self._problem(
                    400, "Invalid Resource", "The resource submitted could not be validated."
                )
            created = self.server._new_member(body, member_id, body.get("status"))
            if isinstance(created, Response):
                return created
            write = note(request)
            write.member, write.email, write.created = member_id, created.email, True
            write.status_sent = write.status_after = created.status
            write.fields_set = self.server._set_merge_fields(created, body.get("merge_fields"))
            for name in body.get("tags") or []:
                if isinstance(name, str) and name.strip():
                    self._set_tag(created, name.strip(), True)
                    write.tags_added.append(name.strip())
            state.version += 1
            return self.server._member_response(created, request)

    def batch_members(self, request: Request) -> Response:
        """`POST /lists/{id}`: subscribe or update up to 500 members, each through PUT."""
        missing = self.server._list_or_404(request)
        if missing:
            return missing
        body = self._body(request)
        members = body.get("members")
        if not isinstance(members, list) or len(members) > 500:
            return self._problem(
                400, "Invalid Resource", "members is required: a list of at most 500."
            )
        update = bool(body.get("update_existing"))
        new, updated, errors = [], [], []
        for item in members:
            item = item if isinstance(item, dict) else {}
            email = str(item.get("email_address") or "").strip()
            member_id = subscriber_hash(email) if email else ""
            with self.server.state.lock:
                known = member_id in self.server.state.by_id
            if known and not update:
                errors.append(
                    self._batch_error(email, "ERROR_CONTACT_EXISTS", "is already a list member.")
                )
                continue
            answer = self._put(request, member_id, item)
            if answer.status != 200:
                detail = answer.body.get("detail", "") if isinstance(answer.body, dict) else ""
                errors.append(self._batch_error(email, "ERROR_GENERIC", detail))
            else:
                (updated if known else new).append(answer.body)
        api = self._api(request)
        return Response(
            200,
            {
                "new_members": new,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(new),
                "total_updated": len(updated),
                "error_count": len(errors),
                "_links": [
                    {
                        "rel": "parent",
                        "href": f"{api}/lists/{self.server.state.list_id}",
                        "method": "GET",
                    }
                ],
            },
        )

    @staticmethod
    def _batch_error(email: str, code: str, error: str) -> dict[str, str]:
        return {
            "email_address": email,
            "error": error,
            "error_code": code,
            "field": "",
            "field_message": "",
        }

    def _put(self, request: Request, member_id: str, item: dict[str, Any]) -> Response:
        """One member of a batch subscribe, as its own audited PUT."""
        body = dict(item)
        if "status" in body:
            body.setdefault("status_if_new", body["status"])
        path = f"/lists/{self.server.state.list_id}/members/{member_id or 'missing'}"
        route, args = self.server._match("PUT", path)
        assert route is not None
        put = Request("PUT", path, {}, request.headers, body, request.base, args, {})
        return route.handler(put)

    def _empty(self, request: Request, key: str, extra: dict[str, Any]) -> Response:
        """A member's feed the simulator does not record: the real shape, no items."""
        m = self._member(request)
        if isinstance(m, Response):
            return m
        body = {key: [], "email_id": m.id, "list_id": self.server.state.list_id, **extra}
        return Response(200, body | {"total_items": 0, "_links": []})

    def member_activity(self, request: Request) -> Response:
        return self._empty(request, "activity", {})

    def member_activity_feed(self, request: Request) -> Response:
        return self._empty(request, "activity", {})

    def member_goals(self, request: Request) -> Response:
        return self._empty(request, "goals", {"last_viewed": ""})

    def list_events(self, request: Request) -> Response:
        page = self._page(request)
        if isinstance(page, Response):
            return page
        count, offset = page
        with self.server.state.lock:
            m = self._member(request)
            if isinstance(m, Response):
                return m
            events = self.events.get(m.id, [])
            body = {"events": events[offset : offset + count], "total_items": len(events)}
        return Response(200, body | {"_links": []})

    def create_event(self, request: Request) -> Response:
        """An event needs a name of 2-30 letters, digits, dashes or underscores; 204."""
        from sandbox.mailchimp import iso

        body = self._body(request)
        name = str(body.get("name") or "")
        if not 2 <= len(name) <= 30 or not name.replace("-", "").replace("_", "").isalnum():
            return self._problem(400, "Invalid Resource", "The event name is not valid.")
        with self.server.state.lock:
            m = self._member(request)
            if isinstance(m, Response):
                return m
            when = iso(self.server.state.clock.now())
            event = {"name": name, "occurred_at": body.get("occurred_at") or when}
            event["properties"] = body.get("properties") or {}
            self.events.setdefault(m.id, []).append(event)
        return Response(204)

    def member_tags(self, request: Request) -> Response:
        page = self._page(request)
        if isinstance(page, Response):
            return page
        count, offset = page
        state = self.server.state
        with state.lock:
            m = self._member(request)
            if isinstance(m, Response):
                return m
            tags = [
                {"id": state.tag_ids[name], "name": name, "date_added": self._tag_date(m, name)}
                for name in m.tags
            ]
        href = f"{self._api(request)}/lists/{state.list_id}/members/{m.id}/tags"
        links = [{"rel": "self", "href": href, "method": "GET"}]
        body = {"tags": tags[offset : offset + count], "total_items": len(tags), "_links": links}
        return Response(200, body)

    def _tag_date(self, m: McMember, name: str) -> str:
        from sandbox.mailchimp import iso

        return self.made.get(name) or iso(m.signup)

    # -- notes ---------------------------------------------------------------------------

    def _note_json(self, n: dict[str, Any], m: McMember, request: Request) -> dict[str, Any]:
        from sandbox.mailchimp import iso

        base = f"{self._api(request)}/lists/{self.server.state.list_id}/members/{m.id}/notes"
        return {
            "id": n["id"],
            "created_at": iso(n["created_at"]),
            "created_by": "Groundswell Sandbox",
            "updated_at": iso(n["updated_at"]),
            "note": n["note"],
            "list_id": self.server.state.list_id,
            "email_id": m.id,
            "contact_id": hashlib.md5(f"contact:{m.id}".encode()).hexdigest(),
            "_links": _links(f"{base}/{n['id']}", base),
        }

    def _note(self, request: Request) -> tuple[McMember, dict[str, Any]] | Response:
        m = self._member(request)
        if isinstance(m, Response):
            return m
        wanted = request.args["note_id"]
        found = next((n for n in self.notes.get(m.id, []) if str(n["id"]) == wanted), None)
        return (m, found) if found else self.server.not_found(request)

    def list_notes(self, request: Request) -> Response:
        page = self._page(request)
        if isinstance(page, Response):
            return page
        count, offset = page
        with self.server.state.lock:
            m = self._member(request)
            if isinstance(m, Response):
                return m
            notes = self.notes.get(m.id, [])
            body = {
                "notes": [self._note_json(n, m, request) for n in notes[offset : offset + count]],
                "list_id": self.server.state.list_id,
                "email_id": m.id,
                "total_items": len(notes),
                "_links": [],
            }
        return Response(200, body)

    def create_note(self, request: Request) -> Response:
        text = str(self._body(request).get("note") or "")
        if len(text) > 1000:
            return self._problem(400, "Invalid Resource", "A note is at most 1,000 characters.")
        with self.server.state.lock:
            m = self._member(request)
            if isinstance(m, Response):
                return m
            now = self.server.state.clock.now()
            n = {"id": self._new_id(), "note": text, "created_at": now, "updated_at": now}
            self.notes.setdefault(m.id, []).append(n)
            note(request).detail["note"] = n["id"]
            return Response(200, self._note_json(n, m, request))

    def get_note(self, request: Request) -> Response:
        with self.server.state.lock:
            found = self._note(request)
            if isinstance(found, Response):
                return found
            return Response(200, self._note_json(found[1], found[0], request))

    def update_note(self, request: Request) -> Response:
        body = self._body(request)
        with self.server.state.lock:
            found = self._note(request)
            if isinstance(found, Response):
                return found
            m, n = found
            if "note" in body:
                n["note"] = str(body["note"] or "")
                n["updated_at"] = self.server.state.clock.now()
            return Response(200, self._note_json(n, m, request))

    def delete_note(self, request: Request) -> Response:
        with self.server.state.lock:
            found = self._note(request)
            if isinstance(found, Response):
                return found
            self.notes[found[0].id].remove(found[1])
        return Response(204)

    # -- merge fields --------------------------------------------------------------------

    def _merge_index(self, request: Request) -> int | Response:
        missing = self.server._list_or_404(request)
        if missing:
            return missing
        wanted = request.args["merge_id"]
        specs = self.server.state.merge_fields
        found = next((i for i, f in enumerate(specs) if str(f[0]) == wanted), None)
        return found if found is not None else self.server.not_found(request)

    def update_merge_field(self, request: Request) -> Response:
        """PATCH: the name and options change; the tag and type stay."""
        from sandbox.mailchimp import merge_field_json

        body = self._body(request)
        state = self.server.state
        with state.lock:
            i = self._merge_index(request)
            if isinstance(i, Response):
                return i
            merge_id, tag, name, kind, options = state.merge_fields[i]
            if isinstance(body.get("options"), dict):
                options = {**options, **body["options"]}
            state.merge_fields[i] = (merge_id, tag, str(body.get("name") or name), kind, options)
            spec = state.merge_fields[i]
        note(request).detail["merge_field"] = tag
        return Response(200, merge_field_json(spec, state.list_id, self._api(request)))

    def delete_merge_field(self, request: Request) -> Response:
        state = self.server.state
        with state.lock:
            i = self._merge_index(request)
            if isinstance(i, Response):
                return i
            tag = state.merge_fields.pop(i)[1]
            state.extra_tags = tuple(t for t in state.extra_tags if t != tag)
            state.version += 1  # every member's JSON loses the field
        note(request).detail["merge_field_deleted"] = tag
        return Response(204)

    # -- segments ------------------------------------------------------------------------

    def _tags(self) -> list[str]:
        return [t for t in self.server.state.tag_ids if t not in self.deleted_tags]

    def _segment(self, request: Request) -> tuple[str, Any] | Response:
        """("static", tag name) or ("saved", its record), or the 404."""
        missing = self.server._list_or_404(request)
        if missing:
            return missing
        wanted = request.args["segment_id"]
        for name in self._tags():
            if str(self.server.state.tag_ids[name]) == wanted:
                return "static", name
        if wanted.isdigit() and int(wanted) in self.saved:
            return "saved", self.saved[int(wanted)]
        return self.server.not_found(request)

    def _segment_json(self, kind: str, seg: Any, request: Request) -> dict[str, Any]:
        from sandbox.mailchimp import iso

        state = self.server.state
        base = f"{self._api(request)}/lists/{state.list_id}/segments"
        if kind == "static":
            seg_id, name = state.tag_ids[seg], seg
            count = len(self._tag_members(seg))
            created = updated = self.made.get(seg, iso(state.clock.now()))
        else:
            seg_id, name, count = seg["id"], seg["name"], 0  # conditions are not evaluated
            created, updated = iso(seg["created_at"]), iso(seg["updated_at"])
        body = {
            "id": seg_id,
            "name": name,
            "member_count": count,
            "type": kind,
            "created_at": created,
            "updated_at": updated,
            "list_id": state.list_id,
            "_links": _links(f"{base}/{seg_id}", base),
        }
        if kind == "saved":
            body["options"] = seg["options"]
        return body

    def list_segments(self, request: Request) -> Response:
        from sandbox.mailchimp import shaped

        missing = self.server._list_or_404(request)
        if missing:
            return missing
        page = self._page(request)
        if isinstance(page, Response):
            return page
        count, offset = page
        wanted = request.params.get("type", "")
        with self.server.state.lock:
            found = [("static", t) for t in self._tags()]
            found += [("saved", s) for s in self.saved.values()]
            found = [f for f in found if not wanted or f[0] == wanted]
            body = {
                "segments": [
                    self._segment_json(k, s, request) for k, s in found[offset : offset + count]
                ],
                "list_id": self.server.state.list_id,
                "total_items": len(found),
                "_links": [],
            }
        return Response(200, shaped(body, request.params))

    def create_segment(self, request: Request) -> Response:
        """A name and either `static_segment` (emails: a tag) or `options` (conditions)."""
        from sandbox.mailchimp import iso

        missing = self.server._list_or_404(request)
        if missing:
            return missing
        body = self._body(request)
        name = str(body.get("name") or "").strip()
        emails = body.get("static_segment")
        if not name or (emails is None) == (body.get("options") is None):
            return self._problem(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated: a name and one of "
                "static_segment or options are required.",
            )
        state, write = self.server.state, note(request)
        with state.lock:
            if name in self._tags() or any(s["name"] == name for s in self.saved.values()):
                return self._problem(400, "Invalid Resource", "A segment with this name exists.")
            now = state.clock.now()
            if emails is None:
                seg_id = 6_000_000 + self._new_id()
                seg = {"id": seg_id, "name": name, "options": body["options"]}
                self.saved[seg_id] = seg | {"created_at": now, "updated_at": now}
                return Response(200, self._segment_json("saved", self.saved[seg_id], request))
            self.deleted_tags.discard(name)
            state._tag_id(name)
            self.made[name] = iso(now)
            write.detail["tag"] = name
            for email in emails if isinstance(emails, list) else []:
                m = state.by_id.get(subscriber_hash(str(email)))
                if m is not None and self._set_tag(m, name, True):
                    write.tags_added.append(name)
            return Response(200, self._segment_json("static", name, request))

    def get_segment(self, request: Request) -> Response:
        with self.server.state.lock:
            found = self._segment(request)
            if isinstance(found, Response):
                return found
            return Response(200, self._segment_json(*found, request))

    def update_segment(self, request: Request) -> Response:
        """PATCH: a new name (a static segment's tag is renamed on its members) or options."""
        body, state, write = self._body(request), self.server.state, note(request)
        with state.lock:
            found = self._segment(request)
            if isinstance(found, Response):
                return found
            kind, seg = found
            name = str(body.get("name") or "").strip()
            if not name:
                return self._problem(400, "Invalid Resource", "A segment needs a name.")
            if kind == "saved":
                seg["name"] = name
                if isinstance(body.get("options"), dict):
                    seg["options"] = body["options"]
                seg["updated_at"] = state.clock.now()
                return Response(200, self._segment_json("saved", seg, request))
            if name != seg and name in self._tags():
                return self._problem(400, "Invalid Resource", "A segment with this name exists.")
            if name != seg:
                for m in self._tag_members(seg):
                    self._set_tag(m, seg, False)
                    self._set_tag(m, name, True)
                    write.tags_removed.append(seg)
                    write.tags_added.append(name)
                # The renamed tag keeps its id: move it, leaving the old name deleted.
                state.tag_ids[name] = state.tag_ids[seg]
                self.deleted_tags.add(seg)
                self.deleted_tags.discard(name)
            return Response(200, self._segment_json("static", name, request))

    def delete_segment(self, request: Request) -> Response:
        state, write = self.server.state, note(request)
        with state.lock:
            found = self._segment(request)
            if isinstance(found, Response):
                return found
            kind, seg = found
            if kind == "saved":
                del self.saved[seg["id"]]
                return Response(204)
            for m in self._tag_members(seg):
                self._set_tag(m, seg, False)
                write.tags_removed.append(seg)
            self.deleted_tags.add(seg)
        return Response(204)

    def _static(self, request: Request) -> str | Response:
        found = self._segment(request)
        if isinstance(found, Response):
            return found
        if found[0] != "static":
            return self._problem(
                400, "Invalid Resource", "Members can only be added to a static segment."
            )
        return found[1]

    def batch_segment(self, request: Request) -> Response:
        """`POST /segments/{id}`: members_to_add and members_to_remove, by email."""
        body, state, write = self._body(request), self.server.state, note(request)
        with state.lock:
            name = self._static(request)
            if isinstance(name, Response):
                return name
            done: dict[bool, list[McMember]] = {True: [], False: []}
            missing: list[str] = []
            for on, key in ((True, "members_to_add"), (False, "members_to_remove")):
                for email in body.get(key) or []:
                    m = state.by_id.get(subscriber_hash(str(email)))
                    if m is None:
                        missing.append(str(email))
                    elif self._set_tag(m, name, on):
                        done[on].append(m)
                        (write.tags_added if on else write.tags_removed).append(name)
            api = self._api(request)
            added = [self.server._member_response(m, request).body for m in done[True]]
            removed = [self.server._member_response(m, request).body for m in done[False]]
        base = f"{api}/lists/{state.list_id}/segments"
        errors = [{"email_addresses": missing, "error": "Email addresses not found."}]
        return Response(
            200,
            {
                "members_added": added,
                "members_removed": removed,
                "errors": errors if missing else [],
                "total_added": len(added),
                "total_removed": len(removed),
                "error_count": len(missing),
                "_links": _links(f"{base}/{state.tag_ids[name]}", base),
            },
        )

    def segment_members(self, request: Request) -> Response:
        from sandbox.mailchimp import member_json, shaped

        page = self._page(request)
        if isinstance(page, Response):
            return page
        count, offset = page
        state = self.server.state
        with state.lock:
            found = self._segment(request)
            if isinstance(found, Response):
                return found
            chosen = self._tag_members(found[1]) if found[0] == "static" else []
            api = self._api(request)
            members = [
                member_json(m, state.list_id, api, state.tag_ids, state.extra_tags)
                for m in chosen[offset : offset + count]
            ]
        body = {"members": members, "total_items": len(chosen), "_links": []}
        return Response(200, shaped(body, request.params))

    def add_segment_member(self, request: Request) -> Response:
        email = str(self._body(request).get("email_address") or "")
        state, write = self.server.state, note(request)
        with state.lock:
            name = self._static(request)
            if isinstance(name, Response):
                return name
            m = state.by_id.get(subscriber_hash(email)) if email.strip() else None
            if m is None:
                return self.server.not_found(request)
            write.member, write.email = m.id, m.email
            if self._set_tag(m, name, True):
                write.tags_added.append(name)
            return self.server._member_response(m, request)

    def remove_segment_member(self, request: Request) -> Response:
        state, write = self.server.state, note(request)
        with state.lock:
            name = self._static(request)
            if isinstance(name, Response):
                return name
            m = self._member(request)
            if isinstance(m, Response):
                return m
            if name not in m.tags:
                return self._problem(
                    404, "Resource Not Found", "The member is not in this segment."
                )
            self._set_tag(m, name, False)
            write.tags_removed.append(name)
        return Response(204)
