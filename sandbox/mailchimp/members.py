"""The simulated Mailchimp's member routes: list, read, PUT (upsert), PATCH, archive,
permanent delete, tag changes, POST (create only) and the batch subscribe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.audit import note
from sandbox.httpserver import Request, Response, Route
from sandbox.mailchimp.guards import Guards, Problem, body_of, invalid, not_found
from sandbox.mailchimp.shapes import (
    FAST_EXCLUDES,
    PREFIX,
    STATUSES,
    UNARCHIVABLE,
    batch_error,
    member_json,
    parse_time,
    shaped,
)
from sandbox.mailchimp.state import MailchimpState
from sandbox.records import McMember, subscriber_hash

Match = Callable[[str, str], tuple[Route | None, dict[str, str]]]


def member_response(state: MailchimpState, m: McMember, request: Request) -> Response:
    """One member's full JSON, as every member write answers."""
    api = request.base + PREFIX
    return Response(200, member_json(m, state.list_id, api, state.tag_ids, state.extra_tags))


class Members:
    """Member routes over one audience; `match` finds a route (the batch subscribe sends
    each member through the audited PUT)."""

    def __init__(self, state: MailchimpState, guards: Guards, match: Match) -> None:
        self.state = state
        self.guards = guards
        self.match = match

    def list_members(self, request: Request) -> Response:
        self.guards.audience(request)
        params = request.params
        count, offset = self.guards.page(params)
        status = params.get("status", "")
        if status and status not in STATUSES:
            raise invalid(f"The status '{status}' is not valid.")
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
        with self.state.lock:
            return member_response(self.state, self.guards.member(request), request)

    def put_member(self, request: Request) -> Response:
        self.guards.audience(request)
        body = body_of(request)
        member_id = request.args["subscriber_hash"]
        write = note(request)
        with self.state.lock:
            m = self.state.by_id.get(member_id)
            status = body.get("status")
            write.status_sent = status or None
            if status and status not in STATUSES:
                raise invalid(f"The status '{status}' is not valid.")
            if m is None and member_id in self.state.forgotten:
                email = str(body.get("email_address") or "").strip() or "This contact"
                raise Problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported. The contact "
                    "must re-subscribe to get back on the list.",
                )
            if m is None:
                m = self.new_member(body, member_id, status)
                write.created, write.status_after = True, m.status
            elif status:
                if status == "subscribed" and m.status in ("unsubscribed", "cleaned"):
                    raise Problem(
                        400,
                        "Member In Compliance State",
                        f"{m.email} is in a compliance state due to unsubscribe, bounce, or compliance "
                        "review and cannot be subscribed.",
                    )
                write.status_before, write.status_after = m.status, status
                m.status = status
            write.email = m.email
            write.fields_set = self.state.set_merge_fields(m, body.get("merge_fields"))
            m.last_changed = self.state.clock.now()
            self.state.version += 1
            return member_response(self.state, m, request)

    def patch_member(self, request: Request) -> Response:
        """PATCH updates an existing member only: an unknown one is a 404, never created."""
        self.guards.audience(request)
        with self.state.lock:
            known = request.args["subscriber_hash"] in self.state.by_id
        if not known:
            raise not_found()
        return self.put_member(request)

    def new_member(self, body: dict[str, Any], member_id: str, status: Any) -> McMember:
        """The member a PUT or POST creates; a Problem says what stops it."""
        email = str(body.get("email_address") or "").strip()
        new_status = status or body.get("status_if_new")
        if not email or subscriber_hash(email) != member_id:
            raise invalid("The email address does not match the subscriber hash.")
        if not new_status:
            raise invalid(
                "The resource submitted could not be validated: status_if_new is required."
            )
        if new_status not in STATUSES:
            raise invalid(f"The status '{new_status}' is not valid.")
        return self.state.add_member(email, member_id, new_status)

    def post_tags(self, request: Request) -> Response:
        self.guards.audience(request)
        tags = (request.body or {}).get("tags") if isinstance(request.body, dict) else None
        if not isinstance(tags, list):
            raise invalid("The resource submitted could not be validated: tags is required.")
        write = note(request)
        # Recorded so a benchmark can check that syncs keep tag automations quiet.
        write.detail["is_syncing"] = bool(request.body.get("is_syncing", False))
        with self.state.lock:
            m = self.guards.member(request)
            write.email = m.email
            for tag in tags:
                name = str((tag or {}).get("name") or "").strip() if isinstance(tag, dict) else ""
                if not name:
                    raise invalid("Each tag needs a name.")
                if tag.get("status") == "inactive":
                    write.tags_removed.append(name)
                    if name in m.tags:
                        m.tags.remove(name)
                else:
                    write.tags_added.append(name)
                    if name not in m.tags:
                        self.state.tag_id(name)
                        m.tags.append(name)
            # Tag changes do not move last_changed on the real API either.
            self.state.touched(m)
        return Response(204)

    def archive_member(self, request: Request) -> Response:
        """DELETE archives: the member stays, as `archived`, and last_changed moves."""
        with self.state.lock:
            m = self.guards.member(request)
            if m.status in UNARCHIVABLE:
                raise Problem(
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
        with self.state.lock:
            m = self.guards.member(request)
            write = note(request)
            write.email, write.status_before, write.detail["deleted"] = m.email, m.status, True
            self.state.forget([m])
        return Response(204)

    def add_member(self, request: Request) -> Response:
        """`POST /members`: creates only; an address already on the audience is a 400."""
        self.guards.audience(request)
        body = body_of(request)
        email = str(body.get("email_address") or "").strip()
        member_id = subscriber_hash(email) if email else ""
        state = self.state
        with state.lock:
            if member_id in state.by_id:
                raise Problem(
                    400,
                    "Member Exists",
                    "This address is already a list member. Use PUT to insert or update "
                    "list members.",
                )
            if member_id in state.forgotten:
                raise Problem(
                    400,
                    "Forgotten Email Not Subscribed",
                    "This contact was permanently deleted and cannot be re-imported.",
                )
            if body.get("status") is None:
                raise invalid("The resource submitted could not be validated.")
            created = self.new_member(body, member_id, body.get("status"))
            write = note(request)
            write.member, write.email, write.created = member_id, created.email, True
            write.status_sent = write.status_after = created.status
            write.fields_set = state.set_merge_fields(created, body.get("merge_fields"))
            for name in body.get("tags") or []:
                if isinstance(name, str) and name.strip():
                    state.set_tag(created, name.strip(), True)
                    write.tags_added.append(name.strip())
            state.version += 1
            return member_response(state, created, request)

    def batch_members(self, request: Request) -> Response:
        """`POST /lists/{id}`: subscribe or update up to 500 members, each through PUT."""
        self.guards.audience(request)
        body = body_of(request)
        members = body.get("members")
        if not isinstance(members, list) or len(members) > 500:
            raise invalid("members is required: a list of at most 500.")
        update = bool(body.get("update_existing"))
        new, updated, errors = [], [], []
        for item in members:
            item = item if isinstance(item, dict) else {}
            email = str(item.get("email_address") or "").strip()
            member_id = subscriber_hash(email) if email else ""
            with self.state.lock:
                known = member_id in self.state.by_id
            if known and not update:
                errors.append(
                    batch_error(email, "ERROR_CONTACT_EXISTS", "is already a list member.")
                )
                continue
            answer = self._put(request, member_id, item)
            if answer.status != 200:
                detail = answer.body.get("detail", "") if isinstance(answer.body, dict) else ""
                errors.append(batch_error(email, "ERROR_GENERIC", detail))
            else:
                (updated if known else new).append(answer.body)
        api = request.base + PREFIX
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
                        "href": f"{api}/lists/{self.state.list_id}",
                        "method": "GET",
                    }
                ],
            },
        )

    def _put(self, request: Request, member_id: str, item: dict[str, Any]) -> Response:
        """One member of a batch subscribe, as its own audited PUT."""
        body = dict(item)
        if "status" in body:
            body.setdefault("status_if_new", body["status"])
        path = f"/lists/{self.state.list_id}/members/{member_id or 'missing'}"
        route, args = self.match("PUT", path)
        assert route is not None
        put = Request("PUT", path, {}, request.headers, body, request.base, args, {})
        return route.handler(put)
