"""The simulated Mailchimp's account and audience routes: the API root, ping, the one
audience, its merge fields (read, created, edited, deleted) and its tag search."""

from __future__ import annotations

from typing import Any

from sandbox.audit import note
from sandbox.httpserver import Request, Response
from sandbox.mailchimp.guards import Guards, Problem, body_of, invalid, not_found
from sandbox.mailchimp.shapes import LIST_NAME, MERGE_TYPES, PREFIX, merge_field_json, shaped
from sandbox.mailchimp.state import MailchimpState


class Audience:
    """Account, audience, merge-field and tag-search routes over one audience."""

    def __init__(self, state: MailchimpState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

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
        self.guards.audience(request)
        return Response(200, self._list_json())

    # -- merge fields --------------------------------------------------------------------

    def merge_fields(self, request: Request) -> Response:
        self.guards.audience(request)
        count, offset = self.guards.page(request.params)
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

    def _merge_index(self, request: Request) -> int:
        self.guards.audience(request)
        wanted = request.args["merge_id"]
        specs = self.state.merge_fields
        found = next((i for i, f in enumerate(specs) if str(f[0]) == wanted), None)
        if found is None:
            raise not_found()
        return found

    def merge_field(self, request: Request) -> Response:
        spec = self.state.merge_fields[self._merge_index(request)]
        body = merge_field_json(spec, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def create_merge_field(self, request: Request) -> Response:
        """`POST /lists/{id}/merge-fields`: name and type required; tag defaults to
        MMERGE<n>, is upper-cased, at most 10 characters and unique in the audience."""
        self.guards.audience(request)
        body = body_of(request)
        name, kind = str(body.get("name") or "").strip(), str(body.get("type") or "").strip()
        if not name or kind not in MERGE_TYPES:
            raise invalid(
                "The resource submitted could not be validated: name and a valid type are required."
            )
        with self.state.lock:
            next_id = max(spec[0] for spec in self.state.merge_fields) + 1
            tag = str(body.get("tag") or f"MMERGE{next_id}").strip().upper()
            if len(tag) > 10 or not tag.replace("_", "").isalnum():
                raise invalid(f'The tag "{tag}" is not valid.')
            if any(spec[1] == tag for spec in self.state.merge_fields):
                raise Problem(
                    400,
                    "Invalid Resource",
                    f'A Merge Field with the tag "{tag}" already exists for this list.',
                )
            spec = self.state.add_merge_field(tag, name, kind)
        note(request).detail["merge_field"] = tag
        return Response(200, merge_field_json(spec, self.state.list_id, request.base + PREFIX))

    def update_merge_field(self, request: Request) -> Response:
        """PATCH: the name and options change; the tag and type stay."""
        body = body_of(request)
        state = self.state
        with state.lock:
            i = self._merge_index(request)
            merge_id, tag, name, kind, options = state.merge_fields[i]
            if isinstance(body.get("options"), dict):
                options = {**options, **body["options"]}
            state.merge_fields[i] = (merge_id, tag, str(body.get("name") or name), kind, options)
            spec = state.merge_fields[i]
        note(request).detail["merge_field"] = tag
        return Response(200, merge_field_json(spec, state.list_id, request.base + PREFIX))

    def delete_merge_field(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            i = self._merge_index(request)
            tag = state.merge_fields.pop(i)[1]
            state.extra_tags = tuple(t for t in state.extra_tags if t != tag)
            state.version += 1  # every member's JSON loses the field
        note(request).detail["merge_field_deleted"] = tag
        return Response(204)

    # -- tags ----------------------------------------------------------------------------

    def tag_search(self, request: Request) -> Response:
        """Every tag the audience has ever had (a tag outlives its last member), filtered
        by `name` anywhere in it, case-insensitively. No count means all of them."""
        self.guards.audience(request)
        count, offset = self.guards.page_or_all(request.params)
        wanted = (request.params.get("name") or "").strip().lower()
        with self.state.lock:
            tags = [
                {"id": tag_id, "name": name}
                for name, tag_id in self.state.tag_ids.items()
                if wanted in name.lower() and name not in self.state.deleted_tags
            ]
        end = None if count is None else offset + count
        body = {"tags": tags[offset:end], "total_items": len(tags)}
        return Response(200, shaped(body, request.params))
