"""The identity configuration (`identity.yaml`): source priority for the golden record,
placeholder values that never link anyone, the probabilistic thresholds, and where the
review decisions live. A broken file fails here, naming the key and what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from transforms.placeholders import Placeholders, from_config
from warehouse.config_file import (
    ConfigModel,
    ConfigProblem,
    Expect,
    Flag,
    Number,
    Text,
    Whole,
    read_yaml,
    validated,
)

SOURCES = ("action_network", "mailchimp", "forms")
Source = Literal["action_network", "mailchimp", "forms"]
BETWEEN_0_AND_1 = Expect("a number between 0 and 1")
Backend = Literal["duckdb", "spark"]


class IdentityConfigError(ValueError):
    """The identity file cannot be used; the message names the key."""


class Probabilistic(ConfigModel):
    enabled: Flag = True
    link_threshold: Annotated[Number, Field(gt=0, lt=1), BETWEEN_0_AND_1] = 0.95
    review_threshold: Annotated[Number, Field(gt=0, lt=1), BETWEEN_0_AND_1] = 0.80
    min_records: Annotated[Whole, Field(ge=0)] = 2000
    # Larger organisations train on a sample of this many records (chosen by hash).
    train_records: Annotated[Whole, Field(ge=1)] = 200_000
    seed: Annotated[Whole, Field(ge=0)] = 42
    # Where Splink scores the pairs: in the warehouse's DuckDB, or on Spark (SPARK_MASTER,
    # local[*] by default) for organisations past one machine; the same model either way.
    backend: Annotated[Backend, Expect("duckdb or spark")] = "duckdb"
    spark_master: Annotated[Text, Expect("a Spark master URL, e.g. local[*]")] = "local[*]"

    @model_validator(mode="after")
    def _ordered(self) -> Probabilistic:
        if not self.review_threshold <= self.link_threshold:
            raise ConfigProblem(
                "probabilistic: review_threshold must be at most link_threshold "
                "(pairs between the two wait for a decision)"
            )
        return self


class PlaceholderLists(ConfigModel):
    """Values added to the built-in placeholders; an unquoted number is read as its digits."""

    emails: tuple[Text, ...] = ()
    phones: tuple[Text, ...] = ()
    names: tuple[Text, ...] = ()
    addresses: tuple[Text, ...] = ()


class ReviewFiles(ConfigModel):
    decisions_file: Annotated[Text, Expect("a file path")] = "identity_decisions.csv"
    review_file: Annotated[Text, Expect("a file path")] = "data/identity_review.csv"


class IdentityFile(ConfigModel):
    """`identity.yaml` as written; every key is optional."""

    source_priority: Annotated[
        tuple[Source, ...],
        Expect(f"a list of source names, each of {', '.join(SOURCES)} at most once"),
    ] = SOURCES
    placeholders: PlaceholderLists = PlaceholderLists()
    probabilistic: Probabilistic = Probabilistic()
    review: ReviewFiles = ReviewFiles()

    @model_validator(mode="after")
    def _meaningful(self) -> IdentityFile:
        if len(set(self.source_priority)) != len(self.source_priority):
            raise ConfigProblem(
                f"source_priority must list each of {', '.join(SOURCES)} at most once"
            )
        try:
            from_config(self.placeholders.model_dump())
        except ValueError as exc:
            raise ConfigProblem(f"placeholders.{exc}") from None
        return self


@dataclass(frozen=True)
class IdentityConfig:
    source_priority: tuple[str, ...] = SOURCES
    placeholders: Placeholders = field(default_factory=Placeholders)
    probabilistic: Probabilistic = field(default_factory=Probabilistic)
    decisions_file: str = ReviewFiles().decisions_file
    review_file: str = ReviewFiles().review_file

    def priority(self, source: str) -> int:
        """Higher wins: the first listed source has the highest priority."""
        order = list(self.source_priority)
        return len(order) - order.index(source) if source in order else 0


def load_identity_config(path: str | Path) -> IdentityConfig:
    """The file's settings over the defaults; a missing file means all defaults."""
    path = Path(path)
    if not path.is_file():
        return IdentityConfig()
    return parse_identity_config(read_yaml(path, IdentityConfigError), str(path))


def parse_identity_config(data: dict[str, Any], source: str = "identity.yaml") -> IdentityConfig:
    """The settings in `data` (a file's mapping); IdentityConfigError names `source`, the
    path inside it and what is allowed there."""
    config = validated(IdentityFile, data, source, IdentityConfigError)
    return IdentityConfig(
        # An empty list means the default order.
        source_priority=config.source_priority or SOURCES,
        placeholders=from_config(config.placeholders.model_dump()),
        probabilistic=config.probabilistic,
        decisions_file=config.review.decisions_file or ReviewFiles().decisions_file,
        review_file=config.review.review_file or ReviewFiles().review_file,
    )
