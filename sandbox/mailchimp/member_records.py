"""What hangs off one simulated Mailchimp member: notes, events, its tags read back, and
the activity and goal feeds the simulator does not record (the real shape, no items)."""

from __future__ import annotations

from typing import Any

from sandbox.audit import note
from sandbox.httpserver import Request, Response
from sandbox.mailchimp.guards import Guards, body_of, invalid, not_found
from sandbox.mailchimp.shapes import PREFIX, iso, note_json
from sandbox.mailchimp.state import MailchimpState
from sandbox.records import McMember


class MemberRecords:
    """Notes, events, tags and feeds of the members of one audience."""

    def __init__(self, state: MailchimpState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

    def _member(self, request: Request) -> McMember:
        return self.guards.member(request, any_case=True)

    def _empty(self, request: Request, key: str, extra: dict[str, Any]) -> Response:
        m = self._member(request)
        body = {key: [], "email_id": m.id, "list_id": self.state.list_id, **extra}
        return Response(200, body | {"total_items": 0, "_links": []})

    def member_activity(self, request: Request) -> Response:
        return self._empty(request, "activity", {})

    def member_activity_feed(self, request: Request) -> Response:
        return self._empty(request, "activity", {})

    def member_goals(self, request: Request) -> Response:
        return self._empty(request, "goals", {"last_viewed": ""})

    def list_events(self, request: Request) -> Response:
        count, offset = self.guards.page(request.params)
        with self.state.lock:
            m = self._member(request)
            events = self.state.events.get(m.id, [])
            body = {"events": events[offset : offset + count], "total_items": len(events)}
        return Response(200, body | {"_links": []})

    def create_event(self, request: Request) -> Response:
        """An event needs a name of 2-30 letters, digits, dashes or underscores; 204."""
        body = body_of(request)
        name = str(body.get("name") or "")
        if not 2 <= len(name) <= 30 or not name.replace("-", "").replace("_", "").isalnum():
            raise invalid("The event name is not valid.")
        with self.state.lock:
            m = self._member(request)
            when = iso(self.state.clock.now())
            event = {"name": name, "occurred_at": body.get("occurred_at") or when}
            event["properties"] = body.get("properties") or {}
            self.state.events.setdefault(m.id, []).append(event)
        return Response(204)

    def member_tags(self, request: Request) -> Response:
        count, offset = self.guards.page(request.params)
        state = self.state
        with state.lock:
            m = self._member(request)
            tags = [
                {"id": state.tag_ids[name], "name": name, "date_added": self._tag_date(m, name)}
                for name in m.tags
            ]
        href = f"{request.base + PREFIX}/lists/{state.list_id}/members/{m.id}/tags"
        links = [{"rel": "self", "href": href, "method": "GET"}]
        body = {"tags": tags[offset : offset + count], "total_items": len(tags), "_links": links}
        return Response(200, body)

    def _tag_date(self, m: McMember, name: str) -> str:
        return self.state.made.get(name) or iso(m.signup)

    # -- notes ---------------------------------------------------------------------------

    def _note_json(self, n: dict[str, Any], m: McMember, request: Request) -> dict[str, Any]:
        return note_json(n, m, self.state.list_id, request.base + PREFIX)

    def _note(self, request: Request) -> tuple[McMember, dict[str, Any]]:
        m = self._member(request)
        wanted = request.args["note_id"]
        found = next((n for n in self.state.notes.get(m.id, []) if str(n["id"]) == wanted), None)
        if not found:
            raise not_found()
        return m, found

    def list_notes(self, request: Request) -> Response:
        count, offset = self.guards.page(request.params)
        with self.state.lock:
            m = self._member(request)
            notes = self.state.notes.get(m.id, [])
            body = {
                "notes": [self._note_json(n, m, request) for n in notes[offset : offset + count]],
                "list_id": self.state.list_id,
                "email_id": m.id,
                "total_items": len(notes),
                "_links": [],
            }
        return Response(200, body)

    def create_note(self, request: Request) -> Response:
        text = str(body_of(request).get("note") or "")
        if len(text) > 1000:
            raise invalid("A note is at most 1,000 characters.")
        with self.state.lock:
            m = self._member(request)
            now = self.state.clock.now()
            n = {"id": self.state.new_id(), "note": text, "created_at": now, "updated_at": now}
            self.state.notes.setdefault(m.id, []).append(n)
            note(request).detail["note"] = n["id"]
            return Response(200, self._note_json(n, m, request))

    def get_note(self, request: Request) -> Response:
        with self.state.lock:
            m, n = self._note(request)
            return Response(200, self._note_json(n, m, request))

    def update_note(self, request: Request) -> Response:
        body = body_of(request)
        with self.state.lock:
            m, n = self._note(request)
            if "note" in body:
                n["note"] = str(body["note"] or "")
                n["updated_at"] = self.state.clock.now()
            return Response(200, self._note_json(n, m, request))

    def delete_note(self, request: Request) -> Response:
        with self.state.lock:
            m, n = self._note(request)
            self.state.notes[m.id].remove(n)
        return Response(204)
