"""The simulated Mailchimp's campaigns and reports: the sent campaigns with their send and
create windows, one campaign, its report, and its email activity since a moment."""

from __future__ import annotations

from sandbox.campaigns import McCampaign
from sandbox.httpserver import Request, Response
from sandbox.mailchimp.guards import Guards, invalid
from sandbox.mailchimp.shapes import (
    CAMPAIGN_STATUSES,
    CAMPAIGN_TYPES,
    PREFIX,
    activity_json,
    campaign_json,
    report_json,
    shaped,
)
from sandbox.mailchimp.state import MailchimpState


class Reports:
    """Campaign and report routes over one audience."""

    def __init__(self, state: MailchimpState, guards: Guards) -> None:
        self.state = state
        self.guards = guards

    def list_campaigns(self, request: Request) -> Response:
        params = request.params
        count, offset = self.guards.page(params)
        status, kind = params.get("status", ""), params.get("type", "")
        if status and status not in CAMPAIGN_STATUSES:
            raise invalid(f"The status '{status}' is not valid.")
        if kind and kind not in CAMPAIGN_TYPES:
            raise invalid(f"The type '{kind}' is not valid.")
        sort = params.get("sort_field", "")
        if sort not in ("", "create_time", "send_time"):
            raise invalid(f"The sort_field '{sort}' is not valid.")
        times = self.guards.times(
            params, "since_send_time", "before_send_time", "since_create_time", "before_create_time"
        )
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

    def get_campaign(self, request: Request) -> Response:
        c = self.guards.campaign(request)
        with self.state.lock:
            body = campaign_json(c, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def get_report(self, request: Request) -> Response:
        c = self.guards.campaign(request)
        with self.state.lock:
            body = report_json(c, self.state.list_id, request.base + PREFIX)
        return Response(200, shaped(body, request.params))

    def email_activity(self, request: Request) -> Response:
        """Per recipient, their opens, clicks and bounces strictly after `since`; recipients
        with none left are not listed, and total_items counts the rows that are."""
        c = self.guards.campaign(request)
        params = request.params
        count, offset = self.guards.page(params)
        since = self.guards.times(params, "since")[0]
        api, list_id = request.base + PREFIX, self.state.list_id
        rows = self.state.activity_rows(c, since)
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
