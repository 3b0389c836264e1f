"""The identity configuration (`identity.yaml`): source priority for the golden record,
placeholder values that never link anyone, the probabilistic thresholds, and where the
review decisions live. A broken file fails here, naming the key and what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from transforms.placeholders import Placeholders

SOURCES = ("action_network", "mailchimp", "forms")


class IdentityConfigError(ValueError):
    """The identity file cannot be used; the message names the key."""


@dataclass(frozen=True)
class Probabilistic:
    enabled: bool = True
    link_threshold: float = 0.95
    review_threshold: float = 0.80
    min_records: int = 2000
    # Larger organisations train on a sample of this many records (chosen by hash).
    train_records: int = 200_000
    seed: int = 42


@dataclass(frozen=True)
class IdentityConfig:
    source_priority: tuple[str, ...] = SOURCES
    placeholders: Placeholders = field(default_factory=Placeholders)
    probabilistic: Probabilistic = field(default_factory=Probabilistic)
    decisions_file: str = "identity_decisions.csv"
    review_file: str = "data/identity_review.csv"

    def priority(self, source: str) -> int:
        """Higher wins: the first listed source has the highest priority."""
        order = list(self.source_priority)
        return len(order) - order.index(source) if source in order else 0


def load_identity_config(path: str | Path) -> IdentityConfig:
    """The file's settings over the defaults; a missing file means all defaults."""
    path = Path(path)
    if not path.is_file():
        return IdentityConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise IdentityConfigError(f"{path}: not valid YAML ({exc})") from None
    except UnicodeDecodeError:
        raise IdentityConfigError(f"{path}: not UTF-8 text; save it as UTF-8 YAML") from None
    if not isinstance(data, dict):
        raise IdentityConfigError(f"{path}: expected a mapping of settings at the top level")
    return parse_identity_config(data, str(path))


def parse_identity_config(data: dict[str, Any], where: str = "identity.yaml") -> IdentityConfig:
    unknown = set(data) - {"source_priority", "placeholders", "probabilistic", "review"}
    if unknown:
        raise IdentityConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    priority = _priority(data.get("source_priority"), where)
    bad = [s for s in priority if s not in SOURCES]
    if bad or len(set(priority)) != len(priority):
        raise IdentityConfigError(
            f"{where}: source_priority must list each of {', '.join(SOURCES)} at most once "
            f"(got {', '.join(map(str, priority))})"
        )
    try:
        placeholders = Placeholders.from_config(data.get("placeholders") or {})
    except ValueError as exc:
        raise IdentityConfigError(f"{where}: placeholders: {exc}") from None
    probabilistic = _probabilistic(data.get("probabilistic") or {}, where)
    review = data.get("review") or {}
    if not isinstance(review, dict):
        raise IdentityConfigError(f"{where}: review must be a mapping")
    for key in ("decisions_file", "review_file"):
        if review.get(key) is not None and not isinstance(review[key], str):
            raise IdentityConfigError(f"{where}: review: {key} must be a file path")
    return IdentityConfig(
        source_priority=priority,
        placeholders=placeholders,
        probabilistic=probabilistic,
        decisions_file=str(review.get("decisions_file") or IdentityConfig.decisions_file),
        review_file=str(review.get("review_file") or IdentityConfig.review_file),
    )


def _priority(value: Any, where: str) -> tuple[str, ...]:
    """The listed sources; a single name or a mapping is refused, not split into letters."""
    if value is None or value == []:
        return SOURCES
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise IdentityConfigError(
            f"{where}: source_priority must be a list of source names, e.g. [{', '.join(SOURCES)}]"
        )
    return tuple(value)


# key -> (type check, what the message asks for)
_SETTING_RULES: dict[str, tuple[Any, str]] = {
    "enabled": (lambda v: isinstance(v, bool), "true or false"),
    "link_threshold": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
    "review_threshold": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
    "min_records": (lambda v: _is_whole(v) and v >= 0, "a whole number, 0 or more"),
    "train_records": (lambda v: _is_whole(v) and v >= 1, "a whole number, 1 or more"),
    "seed": (lambda v: _is_whole(v) and v >= 0, "a whole number, 0 or more"),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _probabilistic(data: Any, where: str) -> Probabilistic:
    if not isinstance(data, dict):
        raise IdentityConfigError(f"{where}: probabilistic must be a mapping")
    unknown = set(data) - set(Probabilistic.__dataclass_fields__)
    if unknown:
        raise IdentityConfigError(
            f"{where}: probabilistic: unknown key(s) {', '.join(sorted(unknown))}"
        )
    for key, value in data.items():
        valid, wanted = _SETTING_RULES[key]
        if not valid(value):
            raise IdentityConfigError(f"{where}: {key} must be {wanted} (under probabilistic)")
    settings = Probabilistic(**{**Probabilistic().__dict__, **data})
    if not 0 < settings.review_threshold <= settings.link_threshold < 1:
        raise IdentityConfigError(
            f"{where}: probabilistic: need 0 < review_threshold <= link_threshold < 1 "
            f"(got {settings.review_threshold} and {settings.link_threshold})"
        )
    return settings
