"""The `sync:` section of `ladder.yaml`: how pushes behave and the guard rails that stop
a plan before it sends. Every key is optional; the defaults are safe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Mailchimp merge tags: up to 10 upper-case letters, digits and underscores.
_MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")


class SyncConfigError(ValueError):
    """The sync settings cannot be used; the message names the key and what to do."""


@dataclass(frozen=True)
class MailchimpSync:
    tier_merge_field: str | None = None  # e.g. TIER: each member's rung in a merge field
    add_new_people: bool = False  # create members for people known only elsewhere
    batch_above: int = 1000  # plans with more requests than this go through /batches
    batch_size: int = 2000  # operations per batch


@dataclass(frozen=True)
class ActionNetworkSync:
    add_new_people: bool = False  # sign up people known only elsewhere (no status sent)
    referral_code_field: str | None = "groundswell_referral_code"
    referral_code_rungs: tuple[str, ...] | None = None  # None: every rung pushed to AN


@dataclass(frozen=True)
class SyncSettings:
    max_remove_share: float = 0.20  # of a segment's pushed members, per run
    min_segment_for_share: int = 20  # smaller segments are exempt from the share rule
    max_people: int = 25000  # people touched by one plan, across destinations
    retry_rejected_after_days: int = 7  # a refused operation is not retried sooner
    # Off by default: consent is given per list and organisation, a Mailchimp unsubscribe
    # can mean "less email" rather than "none", and some groups must keep platforms apart.
    propagate_opt_outs: bool = False  # apply an email opt-out on the other platforms
    # Guard rail: an unsubscribe cannot be undone by Groundswell, so a plan carrying more
    # (a misread consent column, say) waits for a confirmation.
    max_opt_outs: int = 200
    mailchimp: MailchimpSync = field(default_factory=MailchimpSync)
    action_network: ActionNetworkSync = field(default_factory=ActionNetworkSync)


def parse_sync(data: Any, source: str) -> SyncSettings:
    """Read and check the `sync:` mapping (absent: the defaults)."""
    where = f"{source}: sync"
    if data is None:
        return SyncSettings()
    if not isinstance(data, dict):
        raise SyncConfigError(f"{where}: expected a mapping of settings")
    _known(data, {f.name for f in SyncSettings.__dataclass_fields__.values()}, where)
    mailchimp = data.get("mailchimp") or {}
    action_network = data.get("action_network") or {}
    for key, value in (("mailchimp", mailchimp), ("action_network", action_network)):
        if not isinstance(value, dict):
            raise SyncConfigError(f"{where}.{key}: expected a mapping of settings")
    _known(mailchimp, set(MailchimpSync.__dataclass_fields__), f"{where}.mailchimp")
    _known(action_network, set(ActionNetworkSync.__dataclass_fields__), f"{where}.action_network")
    merge = mailchimp.get("tier_merge_field")
    if merge is not None and not _MERGE_TAG.match(str(merge)):
        raise SyncConfigError(
            f"{where}.mailchimp.tier_merge_field: {merge!r} is not a Mailchimp merge tag "
            "(up to 10 upper-case letters, digits or underscores, e.g. TIER)"
        )
    field_name = action_network.get("referral_code_field", "groundswell_referral_code")
    if field_name is not None and not str(field_name).strip():
        raise SyncConfigError(
            f"{where}.action_network.referral_code_field: empty; give a field name or null"
        )
    rungs = action_network.get("referral_code_rungs")
    if rungs is not None and (
        isinstance(rungs, str)
        or not isinstance(rungs, list)
        or not all(isinstance(r, str) for r in rungs)
    ):
        raise SyncConfigError(
            f"{where}.action_network.referral_code_rungs: must be a list of rung names, "
            "e.g. [hq, organiser]; [] issues no codes"
        )
    defaults = SyncSettings()
    return SyncSettings(
        max_remove_share=_number(data, "max_remove_share", defaults.max_remove_share, where, 0, 1),
        min_segment_for_share=int(
            _number(data, "min_segment_for_share", defaults.min_segment_for_share, where, 0)
        ),
        max_people=int(_number(data, "max_people", defaults.max_people, where, 1)),
        retry_rejected_after_days=int(
            _number(data, "retry_rejected_after_days", defaults.retry_rejected_after_days, where, 0)
        ),
        propagate_opt_outs=_flag(data, "propagate_opt_outs", where),
        max_opt_outs=int(_number(data, "max_opt_outs", defaults.max_opt_outs, where, 0)),
        mailchimp=MailchimpSync(
            tier_merge_field=None if merge is None else str(merge),
            add_new_people=_flag(mailchimp, "add_new_people", f"{where}.mailchimp"),
            batch_above=int(_number(mailchimp, "batch_above", 1000, f"{where}.mailchimp", 0)),
            batch_size=int(_number(mailchimp, "batch_size", 2000, f"{where}.mailchimp", 1)),
        ),
        action_network=ActionNetworkSync(
            add_new_people=_flag(action_network, "add_new_people", f"{where}.action_network"),
            referral_code_field=None if field_name is None else str(field_name).strip(),
            referral_code_rungs=None if rungs is None else tuple(str(r) for r in rungs),
        ),
    )


def _known(data: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SyncConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )


def _flag(data: dict, key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise SyncConfigError(f"{where}.{key}: must be true or false, not {value!r}")
    return value


def _number(
    data: dict, key: str, default: float, where: str, low: float, high: float | None = None
) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SyncConfigError(f"{where}.{key}: must be a number, not {value!r}")
    if value < low or (high is not None and value > high):
        limits = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise SyncConfigError(f"{where}.{key}: {value} must be {limits}")
    return value
