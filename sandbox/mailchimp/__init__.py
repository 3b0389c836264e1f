"""A simulated Mailchimp Marketing API v3: one audience, members with the real shape,
problem+json errors, the compliance rule, and a cap on concurrent connections.

By concern: `shapes` (the JSON it answers), `state` (the audience in memory and its
changes), `guards` (the lookups every route shares), the route groups (`audience`,
`members`, `member_records`, `segments`, `reports`, `batch_routes`) and `server` (the
route table, the API key and the connection cap)."""

from __future__ import annotations

from sandbox.mailchimp.server import MailchimpServer
from sandbox.mailchimp.shapes import PREFIX, member_json
from sandbox.mailchimp.state import MailchimpState

__all__ = ["PREFIX", "MailchimpServer", "MailchimpState", "member_json"]
