"""Landing: what the connectors fetch, into the warehouse's raw tables, page by page."""

from pipelines.landing.action_network import (
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from pipelines.landing.forms import FormsReport, land_form_exports
from pipelines.landing.mailchimp import (
    land_mailchimp_audience,
    land_mailchimp_campaigns,
    land_mailchimp_members,
    reconcile_mailchimp_members,
)
from pipelines.landing.pages import WATERMARK_OVERLAP, LandingReport

__all__ = [
    "WATERMARK_OVERLAP",
    "FormsReport",
    "LandingReport",
    "land_action_network_actions",
    "land_action_network_people",
    "land_action_network_whole",
    "land_form_exports",
    "land_mailchimp_audience",
    "land_mailchimp_campaigns",
    "land_mailchimp_members",
    "reconcile_mailchimp_members",
]
