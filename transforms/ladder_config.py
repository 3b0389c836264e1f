"""The ladder configuration (`ladder.yaml`): loaded, checked, and turned into SQL.
A broken config fails here, before anything is written, naming the rung and the problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from transforms.config_sql import first_line, shape_problem
from transforms.sync_config import SyncConfigError, SyncSettings, parse_sync

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
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# Columns reason templates and list columns may use beyond person_metrics.
DERIVED_COLUMNS = ("first_seen_date", "last_action_date", "tier", "reason")
# The rung for people no configured rung's rule places: below the bottom rung, never
# pushed, so a ladder without a catch-all still accounts for everyone.
UNPLACED = "unplaced"
UNPLACED_REASON = "meets no rung's rule in the ladder"


class LadderConfigError(ValueError):
    """The ladder file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Rung:
    name: str
    description: str
    where: str | None
    tags: tuple[str, ...]
    emails: tuple[str, ...]
    reason: str
    next_ask: str
    push: tuple[str, ...]

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


@dataclass(frozen=True)
class ActivationList:
    name: str
    description: str
    where: str
    reason: str
    channel: str
    columns: tuple[str, ...]
    push: tuple[str, ...] = ()
    group_by: str | None = None  # a SQL expression: one export file per value
    order_by: str | None = None  # a SQL ORDER BY list, e.g. "recruits_who_acted DESC"
    limit: int | None = None  # keep only the first N by order_by
    start_journeys: bool = False  # Mailchimp: let this list's tag start journeys


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
            (f"tier:{r.name}", f"{self.namespace}tier:{r.name}", False)
            for r in self.rungs
            if destination in r.push
        ]
        segments += [
            (f"list:{a.name}", f"{self.namespace}list:{a.name}", a.start_journeys)
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
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LadderConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse(data, str(path))


def parse(data: dict[str, Any], source: str = "ladder.yaml") -> Ladder:
    if not isinstance(data, dict):
        raise LadderConfigError(f"{source}: expected a mapping with 'rungs' and 'lists'")
    namespace = str(data.get("namespace") or "").strip()
    if not namespace:
        raise LadderConfigError(f"{source}: 'namespace' is empty; set it, e.g. 'groundswell:'")
    raw_rungs = data.get("rungs") or []
    if not isinstance(raw_rungs, list) or not raw_rungs:
        raise LadderConfigError(
            f"{source}: the ladder has no rungs; list at least one under 'rungs'"
        )
    rungs = tuple(_rung(item, i, source) for i, item in enumerate(raw_rungs, start=1))
    _unique([r.name for r in rungs], "rung", source)
    if UNPLACED in {r.name for r in rungs}:
        raise LadderConfigError(
            f"{source}: rung '{UNPLACED}': the name is kept for people no rung places; "
            "call the rung something else"
        )
    lists = tuple(_list(item, i, source) for i, item in enumerate(data.get("lists") or [], start=1))
    _unique([x.name for x in lists], "list", source)
    try:
        sync = parse_sync(data.get("sync"), source)
    except SyncConfigError as exc:
        raise LadderConfigError(str(exc)) from None
    unknown = set(sync.action_network.referral_code_rungs or ()) - {r.name for r in rungs}
    if unknown:
        raise LadderConfigError(
            f"{source}: sync.action_network.referral_code_rungs names unknown rung(s) "
            f"{', '.join(sorted(unknown))}"
        )
    return Ladder(namespace, rungs, lists, source, sync)


def _rung(item: Any, position: int, source: str) -> Rung:
    where = f"{source}: rung {position}"
    if not isinstance(item, dict):
        raise LadderConfigError(f"{where}: expected a mapping with 'name' and a rule")
    name = _name(item.get("name"), where)
    where = f"{source}: rung '{name}'"
    rule = item.get("where")
    tags = tuple(str(t) for t in item.get("tags") or [])
    emails = tuple(str(e) for e in item.get("emails") or [])
    if not (rule or tags or emails):
        raise LadderConfigError(f"{where}: has no rule; give 'where', 'tags' or 'emails'")
    _shape(rule, "where", where)
    push = tuple(item.get("push") or ())
    _destinations(push, where)
    return Rung(
        name=name,
        description=str(item.get("description") or name),
        where=None if rule is None else str(rule),
        tags=tags,
        emails=emails,
        reason=str(item.get("reason") or item.get("description") or name),
        next_ask=str(item.get("next_ask") or ""),
        push=push,
    )


def _list(item: Any, position: int, source: str) -> ActivationList:
    where = f"{source}: list {position}"
    if not isinstance(item, dict):
        raise LadderConfigError(f"{where}: expected a mapping with 'name' and 'where'")
    name = _name(item.get("name"), where)
    where = f"{source}: list '{name}'"
    rule = item.get("where")
    if not rule:
        raise LadderConfigError(f"{where}: has no 'where' rule")
    _shape(rule, "where", where)
    channel = str(item.get("channel") or "email")
    if channel not in CHANNELS:
        raise LadderConfigError(
            f"{where}: channel '{channel}' is not one of {', '.join(CHANNELS)}; "
            f"they mean: {CHANNEL_MEANINGS}"
        )
    default = ADDRESS_COLUMNS if channel in ADDRESS_CHANNELS else DEFAULT_COLUMNS
    columns = item.get("columns") or default
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise LadderConfigError(f"{where}: 'columns' must be a list of column names")
    columns = tuple(columns)
    _unique(list(columns), f"list '{name}' column", source)
    push = tuple(item.get("push") or ())
    _destinations(push, where)
    journeys = _journeys(item.get("start_journeys", False), where)
    _address_list_not_pushed(channel, push, journeys, where)
    group_by = _expression(item.get("group_by"), "group_by", where)
    order_by = _expression(item.get("order_by"), "order_by", where, kind="order")
    limit = item.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise LadderConfigError(f"{where}: 'limit' must be a whole number of at least 1")
    if limit is not None and not order_by:
        raise LadderConfigError(f"{where}: 'limit' needs 'order_by' to say who comes first")
    return ActivationList(
        name=name,
        description=str(item.get("description") or name),
        where=str(rule),
        reason=str(item.get("reason") or item.get("description") or name),
        channel=channel,
        columns=columns,
        push=push,
        group_by=group_by,
        order_by=order_by,
        limit=limit,
        start_journeys=journeys,
    )


def _address_list_not_pushed(channel: str, push: tuple, journeys: bool, where: str) -> None:
    """A post or door list is for canvassers and mailings: its people are reached at their
    address, and many have no email or phone a platform could hold, so it is never pushed."""
    if channel not in ADDRESS_CHANNELS:
        return
    if push:
        raise LadderConfigError(
            f"{where}: channel '{channel}' lists are not pushed, but 'push' names "
            f"{', '.join(push)}; people on a {channel} list are reached at their address and "
            "many have no email or phone a platform could hold. Set 'push: []', or make a "
            "separate list with channel email, phone or both to push"
        )
    if journeys:
        raise LadderConfigError(
            f"{where}: 'start_journeys' needs the list pushed to mailchimp, and a '{channel}' "
            "list is never pushed; remove 'start_journeys'"
        )


def _journeys(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise LadderConfigError(f"{where}: 'start_journeys' must be true or false")
    return value


def _expression(value: Any, key: str, where: str, kind: str = "expression") -> str | None:
    if value is None or str(value).strip() == "":
        return None
    _shape(value, key, where, kind)
    return str(value).strip()


def _shape(value: Any, key: str, where: str, kind: str = "expression") -> None:
    """Refuse at load what is plainly not one expression; the sandbox is the real guard."""
    if value is None:
        return
    problem = shape_problem(str(value), kind)
    if problem:
        raise LadderConfigError(f"{where}: '{key}' {problem}")


def _name(value: Any, where: str) -> str:
    name = str(value or "").strip()
    if not _NAME.match(name):
        raise LadderConfigError(
            f"{where}: name {name!r} must be lower case letters, digits and underscores"
        )
    return name


def _unique(names: list[str], kind: str, source: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise LadderConfigError(
                f"{source}: {kind} '{name}' appears twice; names must be unique"
            )
        seen.add(name)


def _destinations(push: tuple[str, ...], where: str) -> None:
    for destination in push:
        if destination not in DESTINATIONS:
            raise LadderConfigError(
                f"{where}: push destination '{destination}' is not one of {', '.join(DESTINATIONS)}"
            )


def template_columns(template: str) -> list[str]:
    """The columns a reason template names in braces."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def rule_failure(where: str, key: str | None, expression: str | None, kind: str) -> str:
    """A rule that binds but fails on the data: its name, its expression and the kind of
    error, never DuckDB's message (which can quote a person's value)."""
    shown = f"'{key}' `{' '.join(expression.split())}` fails" if key and expression else "it fails"
    return (
        f"{where}: the rule does not run on the data: {shown} because {kind}. Change it in "
        "the ladder file so it holds for every person's values (e.g. TRY_CAST instead of "
        "CAST) and run again; nothing was written"
    )


def template_sql(template: str, columns: set[str], where: str) -> str:
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
                f"{where}: reason names unknown column '{{{column}}}'; "
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
        where = f"{ladder.source}: rung '{rung.name}'"
        _check(con, relation, rung.predicate(), template_sql(rung.reason, columns, where), where)
    # Activation lists are checked by `validate_lists`, against the relation lists read
    # (person_metrics plus the tier and its history), when segments are built.


def validate_lists(con: duckdb.DuckDBPyConnection, ladder: Ladder, relation: str) -> None:
    """Bind every list's rule, reason, grouping, order and columns against `relation`, so a
    broken list fails with its name before anything is written. `con`: as for `validate`."""
    columns = {row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()}
    list_columns = columns | {"reason"}
    for activation in ladder.lists:
        where = f"{ladder.source}: list '{activation.name}'"
        reason = template_sql(activation.reason, columns, where)
        unknown = [c for c in activation.columns if c not in list_columns]
        if unknown:
            raise LadderConfigError(
                f"{where}: unknown column(s) {', '.join(unknown)} in 'columns'; "
                f"known: {', '.join(sorted(list_columns))}"
            )
        _check(con, relation, activation.where, reason, where)
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
                raise LadderConfigError(f"{where}: '{key}' does not run: {message}") from None


def _check(
    con: duckdb.DuckDBPyConnection, relation: str, predicate: str, reason: str, where: str
) -> None:
    try:
        con.execute(
            f"SELECT {reason}, (\n{predicate}\n)::BOOLEAN FROM {relation} LIMIT 0"
        ).fetchall()
    except duckdb.Error as exc:
        message = bind_message(exc)
        raise LadderConfigError(f"{where}: the rule does not run: {message}") from None


def bind_message(exc: duckdb.Error) -> str:
    """What DuckDB said when binding a rule over no rows (so it quotes no one's data)."""
    if isinstance(exc, duckdb.PermissionException):
        return (
            "it reads a file, a setting or an extension; rules may only use the columns "
            "listed in the README"
        )
    return first_line(exc)
