"""Action Network: people, their actions (petitions, events, forms, fundraising pages,
advocacy campaigns) and tags; pushed to as namespaced tags and a referral-code field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.action_network import landing, push, reconcile
from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.settings import ActionNetworkSettings
from connectors.platform import Platform, Push, Source


def connect(secret: str, settings: Mapping[str, str]) -> ActionNetworkClient:
    """A client for one group's key, sharing the key's rate limit."""
    typed = ActionNetworkSettings.of(settings)
    return ActionNetworkClient(
        secret, typed.ACTION_NETWORK_BASE_URL, requests_per_second=typed.ACTION_NETWORK_RATE
    )


PLATFORM = Platform(
    name="action_network",
    title="Action Network",
    connect=connect,
    folder=Path(__file__).parent,
    settings_model=ActionNetworkSettings,
    secret="ACTION_NETWORK_API_KEY",
    named_in_failures="ACTION_NETWORK_API_KEY and ACTION_NETWORK_BASE_URL",
    kinds=frozenset({"python", "duckdb"}),
    sources=(
        Source(
            "action_network_people",
            "Action Network people landed raw; full first, then by modified_date.",
            lambda con, client, run_id, log, _: landing.land_action_network_people(
                con, client, run_id, log.info
            ).metadata(),
        ),
        Source(
            "action_network_actions",
            "Petitions, events, forms, fundraising pages, advocacy campaigns and the "
            "signatures, attendances, submissions, donations and outreaches on them.",
            lambda con, client, run_id, log, _: {
                name: report.records
                for name, report in landing.land_action_network_actions(
                    con, client, run_id, log.info
                ).items()
            },
        ),
        Source(
            "action_network_tags",
            "Action Network tags with their taggings, lists and custom field names, read "
            "whole each run (the API has no change filter for them).",
            lambda con, client, run_id, log, _: dict(
                landing.land_action_network_whole(con, client, run_id, log.info)
            ),
        ),
    ),
    push=Push(
        "Sends the plan's Action Network changes (namespaced tags, created when missing; the "
        "referral code field); only what changed since the last confirmed push.",
        send=lambda con, client, ops, _sync, run_id, log: push.push_action_network(
            con, client, ops, run_id, log
        ),
        settle=reconcile.reconcile_action_network,
    ),
)
