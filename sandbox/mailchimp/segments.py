"""The simulated Mailchimp's segments: static ones are tags, as on the real API (made,
renamed, deleted, members added and removed); saved ones keep their conditions but are
not evaluated."""

from __future__ import annotations

from typing import Any

from sandbox.audit import note
from sandbox.httpserver import Request, Response
from sandbox.mailchimp.guards import Guards, Problem, body_of, invalid, not_found
from sandbox.mailchimp.members import member_response
from sandbox.mailchimp.shapes import PREFIX, iso, links, member_json, shaped
from sandbox.mailchimp.state import MailchimpState
from sandbox.records import McMember, subscriber_hash


class Segments:
    """Segment routes over one audience."""

    def __init__(self, state: MailchimpState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

    def _segment(self, request: Request) -> tuple[str, Any]:
        """("static", tag name) or ("saved", its record); a 404 otherwise."""
        self.guards.audience(request)
        wanted = request.args["segment_id"]
        for name in self.state.live_tags():
            if str(self.state.tag_ids[name]) == wanted:
                return "static", name
        if wanted.isdigit() and int(wanted) in self.state.saved:
            return "saved", self.state.saved[int(wanted)]
        raise not_found()

    def _static(self, request: Request) -> str:
        """The path's segment, which must be a static one (a tag)."""
        kind, seg = self._segment(request)
        if kind != "static":
            raise invalid("Members can only be added to a static segment.")
        return seg

    def _segment_json(self, kind: str, seg: Any, request: Request) -> dict[str, Any]:
        state = self.state
        base = f"{request.base + PREFIX}/lists/{state.list_id}/segments"
        if kind == "static":
            seg_id, name = state.tag_ids[seg], seg
            count = len(state.tag_members(seg))
            created = updated = state.made.get(seg, iso(state.clock.now()))
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
            "_links": links(f"{base}/{seg_id}", base),
        }
        if kind == "saved":
            body["options"] = seg["options"]
        return body

    def _name_taken(self, name: str) -> bool:
        return name in self.state.live_tags() or any(
            s["name"] == name for s in self.state.saved.values()
        )

    def list_segments(self, request: Request) -> Response:
        self.guards.audience(request)
        count, offset = self.guards.page(request.params)
        wanted = request.params.get("type", "")
        with self.state.lock:
            found = [("static", t) for t in self.state.live_tags()]
            found += [("saved", s) for s in self.state.saved.values()]
            found = [f for f in found if not wanted or f[0] == wanted]
            body = {
                "segments": [
                    self._segment_json(k, s, request) for k, s in found[offset : offset + count]
                ],
                "list_id": self.state.list_id,
                "total_items": len(found),
                "_links": [],
            }
        return Response(200, shaped(body, request.params))

    def create_segment(self, request: Request) -> Response:
        """A name and either `static_segment` (emails: a tag) or `options` (conditions)."""
        self.guards.audience(request)
        body = body_of(request)
        name = str(body.get("name") or "").strip()
        emails = body.get("static_segment")
        if not name or (emails is None) == (body.get("options") is None):
            raise invalid(
                "The resource submitted could not be validated: a name and one of "
                "static_segment or options are required."
            )
        state, write = self.state, note(request)
        with state.lock:
            if self._name_taken(name):
                raise invalid("A segment with this name exists.")
            now = state.clock.now()
            if emails is None:
                seg_id = 6_000_000 + state.new_id()
                seg = {"id": seg_id, "name": name, "options": body["options"]}
                state.saved[seg_id] = seg | {"created_at": now, "updated_at": now}
                return Response(200, self._segment_json("saved", state.saved[seg_id], request))
            state.deleted_tags.discard(name)
            state.tag_id(name)
            state.made[name] = iso(now)
            write.detail["tag"] = name
            for email in emails if isinstance(emails, list) else []:
                m = state.by_id.get(subscriber_hash(str(email)))
                if m is not None and state.set_tag(m, name, True):
                    write.tags_added.append(name)
            return Response(200, self._segment_json("static", name, request))

    def get_segment(self, request: Request) -> Response:
        with self.state.lock:
            return Response(200, self._segment_json(*self._segment(request), request))

    def update_segment(self, request: Request) -> Response:
        """PATCH: a new name (a static segment's tag is renamed on its members) or options."""
        body, state, write = body_of(request), self.state, note(request)
        with state.lock:
            kind, seg = self._segment(request)
            name = str(body.get("name") or "").strip()
            if not name:
                raise invalid("A segment needs a name.")
            if kind == "saved":
                seg["name"] = name
                if isinstance(body.get("options"), dict):
                    seg["options"] = body["options"]
                seg["updated_at"] = state.clock.now()
                return Response(200, self._segment_json("saved", seg, request))
            if name != seg and name in state.live_tags():
                raise invalid("A segment with this name exists.")
            if name != seg:
                for m in state.tag_members(seg):
                    state.set_tag(m, seg, False)
                    state.set_tag(m, name, True)
                    write.tags_removed.append(seg)
                    write.tags_added.append(name)
                # The renamed tag keeps its id: move it, leaving the old name deleted.
                state.tag_ids[name] = state.tag_ids[seg]
                state.deleted_tags.add(seg)
                state.deleted_tags.discard(name)
            return Response(200, self._segment_json("static", name, request))

    def delete_segment(self, request: Request) -> Response:
        state, write = self.state, note(request)
        with state.lock:
            kind, seg = self._segment(request)
            if kind == "saved":
                del state.saved[seg["id"]]
                return Response(204)
            for m in state.tag_members(seg):
                state.set_tag(m, seg, False)
                write.tags_removed.append(seg)
            state.deleted_tags.add(seg)
        return Response(204)

    def batch_segment(self, request: Request) -> Response:
        """`POST /segments/{id}`: members_to_add and members_to_remove, by email."""
        body, state, write = body_of(request), self.state, note(request)
        with state.lock:
            name = self._static(request)
            done: dict[bool, list[McMember]] = {True: [], False: []}
            missing: list[str] = []
            for on, key in ((True, "members_to_add"), (False, "members_to_remove")):
                for email in body.get(key) or []:
                    m = state.by_id.get(subscriber_hash(str(email)))
                    if m is None:
                        missing.append(str(email))
                    elif state.set_tag(m, name, on):
                        done[on].append(m)
                        (write.tags_added if on else write.tags_removed).append(name)
            api = request.base + PREFIX
            added = [member_response(state, m, request).body for m in done[True]]
            removed = [member_response(state, m, request).body for m in done[False]]
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
                "_links": links(f"{base}/{state.tag_ids[name]}", base),
            },
        )

    def segment_members(self, request: Request) -> Response:
        count, offset = self.guards.page(request.params)
        state = self.state
        with state.lock:
            kind, seg = self._segment(request)
            chosen = state.tag_members(seg) if kind == "static" else []
            api = request.base + PREFIX
            members = [
                member_json(m, state.list_id, api, state.tag_ids, state.extra_tags)
                for m in chosen[offset : offset + count]
            ]
        body = {"members": members, "total_items": len(chosen), "_links": []}
        return Response(200, shaped(body, request.params))

    def add_segment_member(self, request: Request) -> Response:
        email = str(body_of(request).get("email_address") or "")
        state, write = self.state, note(request)
        with state.lock:
            name = self._static(request)
            m = state.by_id.get(subscriber_hash(email)) if email.strip() else None
            if m is None:
                raise not_found()
            write.member, write.email = m.id, m.email
            if state.set_tag(m, name, True):
                write.tags_added.append(name)
            return member_response(state, m, request)

    def remove_segment_member(self, request: Request) -> Response:
        state, write = self.state, note(request)
        with state.lock:
            name = self._static(request)
            m = self.guards.member(request, any_case=True)
            if name not in m.tags:
                raise Problem(404, "Resource Not Found", "The member is not in this segment.")
            state.set_tag(m, name, False)
            write.tags_removed.append(name)
        return Response(204)
