"""The simulated Mailchimp server: the API key, the cap on concurrent connections, and
the route table (method and path template -> handler) over the route groups."""

from __future__ import annotations

import base64

from sandbox.audit import Refusal, add_controls, audited
from sandbox.clock import Clock
from sandbox.generator import Organisation
from sandbox.httpserver import Handler, PlatformServer, Request, Response, Route
from sandbox.mailchimp.audience import Audience
from sandbox.mailchimp.batch_routes import BatchRoutes
from sandbox.mailchimp.guards import Guards, answering, body_of
from sandbox.mailchimp.member_records import MemberRecords
from sandbox.mailchimp.members import Members
from sandbox.mailchimp.reports import Reports
from sandbox.mailchimp.segments import Segments
from sandbox.mailchimp.shapes import PREFIX, problem
from sandbox.mailchimp.state import MailchimpState

LIST = "/lists/{list_id}"
MEMBER = LIST + "/members/{subscriber_hash}"
SEGMENT = LIST + "/segments/{segment_id}"


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
        guards = Guards(self.state)
        super().__init__(
            PREFIX,
            self._routes(guards),
            authorise=self.authorise,
            throttled=self.too_many,
            max_concurrency=max_connections,
            latency=latency,
        )
        add_controls(self.controls, self.state.audit, self.state.aliases)
        # Like an S3 link: served without the API key, outside the rate and connection caps.
        self.controls["GET /_sandbox/batch-results/{name}"] = self.batches.batch_results

    def _routes(self, guards: Guards) -> list[Route]:
        """Every route, in matching order; writes are audited and refused for refused
        members, and every handler's raised Problem is answered as problem+json."""
        state = self.state
        audience = Audience(state, guards)
        members = Members(state, guards, self._match)
        records = MemberRecords(state, guards)
        segments = Segments(state, guards)
        reports = Reports(state, guards)
        self.batches = BatchRoutes(state, guards, self._match)
        read, write = self._read, self._write
        return [
            read("GET", "/", audience.root),
            read("GET", "/ping", audience.ping),
            read("GET", "/lists", audience.lists),
            read("GET", LIST, audience.get_list),
            read("GET", LIST + "/members", members.list_members),
            read("GET", MEMBER, members.get_member),
            write("PUT", MEMBER, members.put_member),
            write("PATCH", MEMBER, members.patch_member),
            write("DELETE", MEMBER, members.archive_member),
            write("POST", MEMBER + "/actions/delete-permanent", members.delete_permanent),
            write("POST", MEMBER + "/tags", members.post_tags),
            read("GET", LIST + "/merge-fields", audience.merge_fields),
            write("POST", LIST + "/merge-fields", audience.create_merge_field),
            read("GET", LIST + "/merge-fields/{merge_id}", audience.merge_field),
            read("GET", LIST + "/tag-search", audience.tag_search),
            read("GET", "/campaigns", reports.list_campaigns),
            read("GET", "/campaigns/{campaign_id}", reports.get_campaign),
            read("GET", "/reports/{campaign_id}", reports.get_report),
            read("GET", "/reports/{campaign_id}/email-activity", reports.email_activity),
            write("POST", "/batches", self.batches.post_batch),
            read("GET", "/batches", self.batches.list_batches),
            read("GET", "/batches/{batch_id}", self.batches.get_batch),
            write("POST", LIST + "/members", members.add_member),
            # Each member of a batch subscribe goes through the audited PUT route.
            read("POST", LIST, members.batch_members),
            read("GET", MEMBER + "/activity", records.member_activity),
            read("GET", MEMBER + "/activity-feed", records.member_activity_feed),
            read("GET", MEMBER + "/goals", records.member_goals),
            read("GET", MEMBER + "/events", records.list_events),
            write("POST", MEMBER + "/events", records.create_event),
            read("GET", MEMBER + "/tags", records.member_tags),
            read("GET", MEMBER + "/notes", records.list_notes),
            write("POST", MEMBER + "/notes", records.create_note),
            read("GET", MEMBER + "/notes/{note_id}", records.get_note),
            write("PATCH", MEMBER + "/notes/{note_id}", records.update_note),
            write("DELETE", MEMBER + "/notes/{note_id}", records.delete_note),
            write("PATCH", LIST + "/merge-fields/{merge_id}", audience.update_merge_field),
            write("DELETE", LIST + "/merge-fields/{merge_id}", audience.delete_merge_field),
            read("GET", LIST + "/segments", segments.list_segments),
            write("POST", LIST + "/segments", segments.create_segment),
            read("GET", SEGMENT, segments.get_segment),
            write("PATCH", SEGMENT, segments.update_segment),
            write("POST", SEGMENT, segments.batch_segment),
            write("DELETE", SEGMENT, segments.delete_segment),
            read("GET", SEGMENT + "/members", segments.segment_members),
            write("POST", SEGMENT + "/members", segments.add_segment_member),
            write("DELETE", SEGMENT + "/members/{subscriber_hash}", segments.remove_segment_member),
        ]

    @staticmethod
    def _read(method: str, template: str, handler: Handler) -> Route:
        """A route that changes nothing itself (or sends its writes through audited ones)."""
        return Route(method, template, answering(handler))

    def _write(self, method: str, template: str, handler: Handler) -> Route:
        """A write route: logged in the audit, and refused for refused members."""
        route = f"{method} {template}"
        guarded = audited(self.state.audit, route, answering(handler), self._keys, self._refuse)
        return Route(method, template, guarded)

    @staticmethod
    def _keys(request: Request) -> list[str]:
        """Who a write touches: the subscriber hash in the path, the email in the body."""
        body = body_of(request)
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
