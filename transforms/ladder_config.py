"""The ladder configuration (`ladder.yaml`): loaded, checked, and turned into SQL.
A broken config fails here, before anything is written, naming the rung and the problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import duckdb
from pydantic import AfterValidator, model_validator

from transforms.config_sql import first_line, shape_problem
from transforms.segment_keys import list_segment, tier_segment
from transforms.sync_config import SyncSettings
from warehouse.config_file import (
    ConfigModel,
    ConfigProblem,
    Expect,
    Flag,
    Text,
    Whole,
    read_yaml,
    validated,
)

CHANNELS = ("email", "phone", "both", "post", "door")
# Canvass and mailing channels: a person is reached at their address, never on a platform.
ADDRESS_CHANNELS = ("post", "door")
CHANNEL_MEANINGS = (
    "email, phone, both (an email or phone consent allows), post (a postal address: an "
    "address line and a postcode or locality), door (a street address with a house number)"
)
# What a list's download holds when it names no `columns`.
DEFAULT_COLUMNS = ("person_id", "given_name", "family_name", "email", "reason")
ADDRESS_COLUMNS = (
    "person_id",
    "given_name",
    "family_name",
    "address_line",
    "locality",
    "region",
    "postal_code",
    "reason",
)
DESTINATIONS = ("mailchimp", "action_network")
# A list's ask is a column its download may name; one with an ask shows it last otherwise.
ASK = "ask"
# The relation a list's `success` rule is written over: one row of it at a time.
SUCCESS_RELATION = "activities"
DEFAULT_WINDOW_DAYS = 30
WINDOW_RULE = "a whole number of days of at least 1"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# The rung for people no configured rung's rule places: below the bottom rung, never
# pushed, so a ladder without a catch-all still accounts for everyone.
UNPLACED = "unplaced"
UNPLACED_REASON = "meets no rung's rule in the ladder"


class LadderConfigError(ValueError):
    """The ladder file cannot be used; the message says where and why."""


NAME_RULE = "lower case letters, digits and underscores, starting with a letter"


def _name(value: str) -> str:
    name = value.strip()
    if not _NAME.match(name):
        raise ValueError(f"must be {NAME_RULE}")
    return name


def _optional(value: str) -> str | None:
    """An expression key left empty is not given."""
    return value.strip() or None


Name = Annotated[Text, AfterValidator(_name), Expect(NAME_RULE)]
Expression = Annotated[Text, AfterValidator(_optional)]
Destinations = Annotated[tuple[Text, ...], Expect("a list of " + ", ".join(DESTINATIONS))]


class Rung(ConfigModel):
    """One rung: a person meets it by the SQL rule `where` (over person_metrics), a
    platform tag in `tags` or an address in `emails`."""

    name: Name
    description: Text = ""  # default: the name
    where: Text | None = None
    tags: tuple[Text, ...] = ()
    emails: tuple[Text, ...] = ()
    reason: Text = ""  # default: the description
    next_ask: Text = ""
    push: Destinations = ()

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return _described(data)

    @model_validator(mode="after")
    def _meaningful(self) -> Rung:
        at = f"rung '{self.name}'"
        if not (self.where or self.tags or self.emails):
            raise ConfigProblem(f"{at}: has no rule; give 'where', 'tags' or 'emails'")
        _shape(self.where, "where", at)
        _destinations(self.push, at)
        return self

    def predicate(self) -> str:
        """The rung's rule as SQL over person_metrics."""
        parts = []
        if self.tags:
            wanted = ", ".join(quote(t.lower()) for t in self.tags)
            parts.append(
                f"list_has_any(list_transform(platform_tags, lambda t: lower(t)), [{wanted}])"
            )
        if self.emails:
            wanted = ", ".join(quote(e.strip().lower()) for e in self.emails)
            parts.append(f"lower(email) IN ({wanted})")
        if self.where:
            parts.append(f"(\n{self.where}\n)")  # newlines: a `--` comment ends in it
        return " OR ".join(parts)


class ActivationList(ConfigModel):
    """One activation list: who meets `where`, reachable on `channel`, with a reason."""

    name: Name
    description: Text = ""  # default: the name
    where: Text | None = None  # required: checked below, naming the list
    reason: Text = ""  # default: the description
    channel: Annotated[Text, Expect("one of " + ", ".join(CHANNELS))] = "email"
    columns: tuple[Text, ...] = DEFAULT_COLUMNS  # default: by channel
    push: Destinations = ()
    group_by: Expression | None = None  # a SQL expression: one export file per value
    order_by: Expression | None = None  # a SQL ORDER BY list, e.g. "recruits_who_acted DESC"
    limit: Whole | None = None  # keep only the first N by order_by
    start_journeys: Flag = False  # Mailchimp: let this list's tag start journeys
    # The ask loop: the words an organiser uses with people on the list, what counts as
    # success (a SQL predicate over one row of `activities`) and for how many days after
    # entering the list it counts.
    ask: Text = ""
    success: Expression | None = None
    window_days: Annotated[Whole, Expect(WINDOW_RULE)] = DEFAULT_WINDOW_DAYS

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        data = _described(data)
        channel = data.get("channel") or "email"
        data["channel"] = channel
        name = data.get("name")
        if isinstance(data.get("columns"), str) and isinstance(name, str):
            raise ConfigProblem(f"list '{name.strip()}': 'columns' must be a list of column names")
        if not data.get("columns"):
            data["columns"] = ADDRESS_COLUMNS if channel in ADDRESS_CHANNELS else DEFAULT_COLUMNS
        return data

    @model_validator(mode="after")
    def _meaningful(self) -> ActivationList:
        at = f"list '{self.name}'"
        if not self.where:
            raise ConfigProblem(f"{at}: has no 'where' rule")
        _shape(self.where, "where", at)
        if self.channel not in CHANNELS:
            raise ConfigProblem(
                f"{at}: channel '{self.channel}' is not one of {', '.join(CHANNELS)}; "
                f"they mean: {CHANNEL_MEANINGS}"
            )
        _unique(list(self.columns), f"list '{self.name}' column")
        _destinations(self.push, at)
        _address_list_not_pushed(self.channel, self.push, self.start_journeys, at)
        _shape(self.group_by, "group_by", at)
        _shape(self.order_by, "order_by", at, kind="order")
        if self.limit is not None and self.limit < 1:
            raise ConfigProblem(f"{at}: 'limit' must be a whole number of at least 1")
        if self.limit is not None and not self.order_by:
            raise ConfigProblem(f"{at}: 'limit' needs 'order_by' to say who comes first")
        _shape(self.success, "success", at)
        if self.window_days < 1:
            raise ConfigProblem(f"{at}: 'window_days' must be {WINDOW_RULE}")
        return self

    def export_columns(self) -> tuple[str, ...]:
        """The download's columns: `columns`, then `ask` when the list has one they omit."""
        if self.ask.strip() and ASK not in self.columns:
            return (*self.columns, ASK)
        return self.columns


def _described(data: dict[str, Any]) -> dict[str, Any]:
    """An empty description is the name; an empty reason is the description."""
    name = data.get("name")
    if isinstance(name, str):
        data["description"] = data.get("description") or name.strip()
        data["reason"] = data.get("reason") or data["description"]
    return data


class LadderFile(ConfigModel):
    """`ladder.yaml` as written: the namespace, the rungs from the top, the lists, `sync:`."""

    namespace: Annotated[Text, AfterValidator(str.strip)] = ""
    rungs: tuple[Rung, ...] = ()
    lists: tuple[ActivationList, ...] = ()
    sync: SyncSettings = SyncSettings()

    @model_validator(mode="after")
    def _meaningful(self) -> LadderFile:
        if not self.namespace:
            raise ConfigProblem("'namespace' is empty; set it, e.g. 'groundswell:'")
        if not self.rungs:
            raise ConfigProblem("the ladder has no rungs; list at least one under 'rungs'")
        _unique([r.name for r in self.rungs], "rung")
        if UNPLACED in {r.name for r in self.rungs}:
            raise ConfigProblem(
                f"rung '{UNPLACED}': the name is kept for people no rung places; "
                "call the rung something else"
            )
        _unique([x.name for x in self.lists], "list")
        wanted = self.sync.action_network.referral_code_rungs or ()
        unknown = set(wanted) - {r.name for r in self.rungs}
        if unknown:
            raise ConfigProblem(
                "sync.action_network.referral_code_rungs names unknown rung(s) "
                f"{', '.join(sorted(unknown))}"
            )
        return self


@dataclass(frozen=True)
class Ladder:
    namespace: str
    rungs: tuple[Rung, ...]
    lists: tuple[ActivationList, ...] = field(default_factory=tuple)
    source: str = "ladder.yaml"
    sync: SyncSettings = field(default_factory=SyncSettings)

    def pushed_segments(self, destination: str) -> list[tuple[str, str, bool]]:
        """(segment, tag, start_journeys) for every rung and list pushed to `destination`."""
        segments = [
            (tier_segment(r.name), self.namespace + tier_segment(r.name), False)
            for r in self.rungs
            if destination in r.push
        ]
        segments += [
            (list_segment(a.name), self.namespace + list_segment(a.name), a.start_journeys)
            for a in self.lists
            if destination in a.push
        ]
        return segments


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def load(path: str | Path) -> Ladder:
    """Read and structurally check the file (SQL is checked by `validate`)."""
    path = Path(path)
    if not path.is_file():
        raise LadderConfigError(f"{path}: not found; set LADDER_CONFIG or copy ladder.yaml")
    return parse(read_yaml(path, LadderConfigError), str(path))


def parse(data: dict[str, Any], source: str = "ladder.yaml") -> Ladder:
    """The ladder in `data` (a file's mapping); LadderConfigError names `source`, the path
    inside it and what is allowed there."""
    ladder = validated(LadderFile, data, source, LadderConfigError)
    return Ladder(ladder.namespace, ladder.rungs, ladder.lists, source, ladder.sync)


def _address_list_not_pushed(channel: str, push: tuple, journeys: bool, at: str) -> None:
    """A post or door list is for canvassers and mailings: its people are reached at their
    address, and many have no email or phone a platform could hold, so it is never pushed."""
    if channel not in ADDRESS_CHANNELS:
        return
    if push:
        raise ConfigProblem(
            f"{at}: channel '{channel}' lists are not pushed, but 'push' names "
            f"{', '.join(push)}; people on a {channel} list are reached at their address and "
            "many have no email or phone a platform could hold. Set 'push: []', or make a "
            "separate list with channel email, phone or both to push"
        )
    if journeys:
        raise ConfigProblem(
            f"{at}: 'start_journeys' needs the list pushed to mailchimp, and a '{channel}' "
            "list is never pushed; remove 'start_journeys'"
        )


def _shape(value: str | None, key: str, at: str, kind: str = "expression") -> None:
    """Refuse at load what is plainly not one expression; the sandbox is the real guard."""
    if value is None:
        return
    problem = shape_problem(value, kind)
    if problem:
        raise ConfigProblem(f"{at}: '{key}' {problem}")


def _unique(names: list[str], kind: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigProblem(f"{kind} '{name}' appears twice; names must be unique")
        seen.add(name)


def _destinations(push: tuple[str, ...], at: str) -> None:
    for destination in push:
        if destination not in DESTINATIONS:
            raise ConfigProblem(
                f"{at}: push destination '{destination}' is not one of {', '.join(DESTINATIONS)}"
            )


def template_columns(template: str) -> list[str]:
    """The columns a reason template names in braces."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def rule_failure(at: str, key: str | None, expression: str | None, kind: str) -> str:
    """A rule that binds but fails on the data: its name, its expression and the kind of
    error, never DuckDB's message (which can quote a person's value)."""
    shown = f"'{key}' `{' '.join(expression.split())}` fails" if key and expression else "it fails"
    return (
        f"{at}: the rule does not run on the data: {shown} because {kind}. Change it in "
        "the ladder file so it holds for every person's values (e.g. TRY_CAST instead of "
        "CAST) and run again; nothing was written"
    )


def template_sql(template: str, columns: set[str], at: str) -> str:
    """A reason template as a SQL string expression: '{actions_90d} actions' ->
    coalesce(CAST(actions_90d AS VARCHAR), '') || ' actions'."""
    pieces: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > position:
            pieces.append(quote(template[position : match.start()]))
        column = match.group(1)
        if column not in columns:
            raise LadderConfigError(
                f"{at}: reason names unknown column '{{{column}}}'; "
                f"known: {', '.join(sorted(columns))}"
            )
        pieces.append(f"coalesce(CAST({column} AS VARCHAR), '')")
        position = match.end()
    if position < len(template):
        pieces.append(quote(template[position:]))
    return " || ".join(pieces) or "''"


def validate(con: duckdb.DuckDBPyConnection, ladder: Ladder, relation: str) -> None:
    """Bind every rule, reason and column against `relation` (the metrics the ladder reads),
    so SQL errors surface with the rung's name before anything is written. `con` is a
    config sandbox holding `relation` with no rows, so a message can quote no one's data."""
    columns = {row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()}
    for rung in ladder.rungs:
        at = f"{ladder.source}: rung '{rung.name}'"
        _check(con, relation, rung.predicate(), template_sql(rung.reason, columns, at), at)
    # Activation lists are checked by `validate_lists`, against the relation lists read
    # (person_metrics plus the tier and its history), when segments are built.


def validate_lists(
    con: duckdb.DuckDBPyConnection,
    ladder: Ladder,
    relation: str,
    activities: str = SUCCESS_RELATION,
) -> None:
    """Bind every list's rule, reason, grouping, order and columns against `relation`, and
    its `success` rule against `activities`, so a broken list fails with its name before
    anything is written. `con`: as for `validate`, holding both relations."""
    columns = {row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()}
    list_columns = columns | {"reason", ASK}
    for activation in ladder.lists:
        at = f"{ladder.source}: list '{activation.name}'"
        reason = template_sql(activation.reason, columns, at)
        unknown = [c for c in activation.columns if c not in list_columns]
        if unknown:
            raise LadderConfigError(
                f"{at}: unknown column(s) {', '.join(unknown)} in 'columns'; "
                f"known: {', '.join(sorted(list_columns))}"
            )
        _check(con, relation, activation.where or "", reason, at)
        for key in ("group_by", "order_by"):
            expression = getattr(activation, key)
            if expression is None:
                continue
            sql = f"SELECT (\n{expression}\n) FROM {relation} LIMIT 0"
            if key == "order_by":
                sql = f"SELECT 1 FROM {relation} ORDER BY {expression}\n LIMIT 0"
            try:
                con.execute(sql).fetchall()
            except duckdb.Error as exc:
                message = bind_message(exc)
                raise LadderConfigError(f"{at}: '{key}' does not run: {message}") from None
        if activation.success is not None:
            _check_success(con, activities, activation.success, at)


def _check_success(con: duckdb.DuckDBPyConnection, activities: str, success: str, at: str) -> None:
    """Bind a list's `success` rule over one row of `activities` (no rows: quotes no one)."""
    try:
        con.execute(f"SELECT (\n{success}\n)::BOOLEAN FROM {activities} LIMIT 0").fetchall()
    except duckdb.Error as exc:
        message = bind_message(exc)
        raise LadderConfigError(
            f"{at}: 'success' does not run over one row of {SUCCESS_RELATION} (it may read "
            f"only the columns of {SUCCESS_RELATION}, e.g. activity_type = 'event_hosted'): "
            f"{message}"
        ) from None


def _check(
    con: duckdb.DuckDBPyConnection, relation: str, predicate: str, reason: str, at: str
) -> None:
    try:
        con.execute(
            f"SELECT {reason}, (\n{predicate}\n)::BOOLEAN FROM {relation} LIMIT 0"
        ).fetchall()
    except duckdb.Error as exc:
        message = bind_message(exc)
        raise LadderConfigError(f"{at}: the rule does not run: {message}") from None


def bind_message(exc: duckdb.Error) -> str:
    """What DuckDB said when binding a rule over no rows (so it quotes no one's data)."""
    if isinstance(exc, duckdb.PermissionException):
        return (
            "it reads a file, a setting or an extension; rules may only use the columns "
            "listed in the README"
        )
    return first_line(exc)
