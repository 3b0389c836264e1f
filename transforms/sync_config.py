"""The `sync:` section of `ladder.yaml`: how pushes behave and the guard rails that stop
a plan before it sends. Every key is optional; the defaults are safe."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from warehouse.config_file import ConfigModel, Expect, Flag, Number, Text, Whole, validated

# Mailchimp merge tags: up to 10 upper-case letters, digits and underscores.
_MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")
MERGE_TAG_RULE = (
    "a Mailchimp merge tag: up to 10 upper-case letters, digits or underscores, e.g. TIER"
)


class SyncConfigError(ValueError):
    """The sync settings cannot be used; the message names the key and what to do."""


def _merge_tag(value: str) -> str:
    if not _MERGE_TAG.match(value):
        raise ValueError(f"not {MERGE_TAG_RULE}")
    return value


def _field_name(value: str) -> str:
    if not value.strip():
        raise ValueError("empty; give a field name or null")
    return value.strip()


MergeTag = Annotated[Text, AfterValidator(_merge_tag), Expect(MERGE_TAG_RULE)]
FieldName = Annotated[Text, AfterValidator(_field_name)]
RungNames = Annotated[
    tuple[Text, ...], Expect("a list of rung names, e.g. [hq, organiser]; [] issues no codes")
]


class MailchimpSync(ConfigModel):
    tier_merge_field: MergeTag | None = None  # e.g. TIER: each member's rung in a merge field
    add_new_people: Flag = False  # create members for people known only elsewhere
    batch_above: Annotated[Whole, Field(ge=0)] = 1000  # more requests than this: /batches
    batch_size: Annotated[Whole, Field(ge=1)] = 2000  # operations per batch


class ActionNetworkSync(ConfigModel):
    add_new_people: Flag = False  # sign up people known only elsewhere (no status sent)
    referral_code_field: FieldName | None = "groundswell_referral_code"  # null: no codes
    referral_code_rungs: RungNames | None = None  # None: every rung pushed to AN


class SyncSettings(ConfigModel):
    max_remove_share: Annotated[Number, Field(ge=0, le=1)] = 0.20  # of a segment, per run
    min_segment_for_share: Annotated[Whole, Field(ge=0)] = 20  # smaller: exempt from the share
    max_people: Annotated[Whole, Field(ge=1)] = 25000  # touched by one plan, all destinations
    retry_rejected_after_days: Annotated[Whole, Field(ge=0)] = 7  # a refusal is not retried sooner
    # Off by default: consent is given per list and organisation, a Mailchimp unsubscribe
    # can mean "less email" rather than "none", and some groups must keep platforms apart.
    propagate_opt_outs: Flag = False  # apply an email opt-out on the other platforms
    # Guard rail: an unsubscribe cannot be undone by Groundswell, so a plan carrying more
    # (a misread consent column, say) waits for a confirmation.
    max_opt_outs: Annotated[Whole, Field(ge=0)] = 200
    mailchimp: MailchimpSync = MailchimpSync()
    action_network: ActionNetworkSync = ActionNetworkSync()


def parse_sync(data: Any, source: str) -> SyncSettings:
    """Read and check the `sync:` mapping (absent: the defaults); `source` is the file."""
    model = validated(_SyncSection, {"sync": data}, source, SyncConfigError)
    return model.sync


class _SyncSection(ConfigModel):
    """`sync:` as it sits in its file, so messages read `sync.max_people`."""

    sync: SyncSettings = SyncSettings()
