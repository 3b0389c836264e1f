"""The teams configuration (`teams.yaml`): local teams, each with a membership rule and the
organisers who lead it. Loaded and checked here; a broken file fails before anything is
written, naming the team and the problem. Rules are SQL predicates over the columns lists
use (`stage.list_input`), and/or platform tags, run in the config sandbox like the ladder's."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import duckdb
from pydantic import AfterValidator, model_validator

from transforms.config_sql import shape_problem
from transforms.ladder_config import Expression, bind_message, quote
from warehouse.config_file import ConfigModel, ConfigProblem, Expect, Text, read_yaml, validated

# The part of a list split by team (`group_by: team`) for people in no team; no team may
# take the name.
NO_TEAM = "no team"
NAME_RULE = "text of 1 to 80 characters (letters, digits, spaces and - _ ' . & / ( ))"
_TEAM_NAME = re.compile(r"^[\w][\w .'&/()-]{0,79}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UNKNOWN_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
WHERE_WHY = "meets the team's rule"


class TeamsConfigError(ValueError):
    """The teams file cannot be used; the message says where and why."""


def _team_name(value: str) -> str:
    name = " ".join(value.split())
    if not _TEAM_NAME.match(name):
        raise ValueError(f"must be {NAME_RULE}")
    return name


def _email(value: str) -> str:
    address = value.strip().lower()
    if not _EMAIL.match(address):
        # The value is not repeated: it may be someone's address, mistyped.
        raise ValueError("must be an email address, e.g. organiser@example.org")
    return address


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    """The same organiser (or tag) twice is one; empty tags are dropped."""
    return tuple(dict.fromkeys(v for v in values if v))


TeamName = Annotated[Text, AfterValidator(_team_name), Expect(NAME_RULE)]
Email = Annotated[Text, AfterValidator(_email), Expect("an email address")]
Tag = Annotated[Text, AfterValidator(str.strip)]


class Team(ConfigModel):
    """One team: who is in it (the SQL rule `where` and/or platform `tags`) and who leads it."""

    name: TeamName
    description: Text = ""
    where: Expression | None = None
    tags: Annotated[tuple[Tag, ...], AfterValidator(_distinct)] = ()
    # May be empty (a team still forming): allowed, and reported as a count.
    organisers: Annotated[tuple[Email, ...], AfterValidator(_distinct)] = ()

    @model_validator(mode="after")
    def _meaningful(self) -> Team:
        at = f"team '{self.name}'"
        if not (self.where or self.tags):
            raise ConfigProblem(f"{at}: has no rule; give 'where' (a SQL rule) or 'tags'")
        if self.name.lower() == NO_TEAM:
            raise ConfigProblem(
                f"{at}: the name is kept for the part of a list split by team that holds "
                "people in no team; call the team something else"
            )
        if self.where:
            problem = shape_problem(self.where)
            if problem:
                raise ConfigProblem(f"{at}: 'where' {problem}")
        return self

    def predicate(self) -> str:
        """The team's rule as SQL over the list input: the `where` rule or a tag."""
        return " OR ".join(f"({part})" for part in self._parts())

    def why_sql(self) -> str:
        """Why a person who meets the rule is in the team, as a SQL text expression: the
        rule, the first of the team's tags they carry, or both."""
        pieces = []
        if self.where:
            pieces.append(f"CASE WHEN (\n{self.where}\n) THEN {quote(WHERE_WHY)} END")
        if self.tags:
            tagged = " ".join(
                f"WHEN {_tag_test([t])} THEN {quote('tagged ' + t)}" for t in self.tags
            )
            pieces.append(f"CASE {tagged} END")
        return f"concat_ws(' and ', {', '.join(pieces)})"

    def rule_text(self) -> str:
        """The rule as written, for the `teams` table."""
        parts = []
        if self.where:
            parts.append(f"where: {' '.join(self.where.split())}")
        if self.tags:
            parts.append("tags: " + ", ".join(self.tags))
        return "; ".join(parts)

    def _parts(self) -> list[str]:
        parts = []
        if self.where:
            parts.append(f"\n{self.where}\n")  # newlines: a `--` comment ends in it
        if self.tags:
            parts.append(_tag_test(self.tags))
        return parts


def _tag_test(tags: list[str] | tuple[str, ...]) -> str:
    """A platform tag (any case) among the tags the person carries on any platform."""
    wanted = ", ".join(quote(t.lower()) for t in tags)
    return f"list_has_any(list_transform(platform_tags, lambda t: lower(t)), [{wanted}])"


class TeamsFile(ConfigModel):
    """`teams.yaml` as written: the list of teams."""

    teams: tuple[Team, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> TeamsFile:
        seen: set[str] = set()
        for team in self.teams:
            key = team.name.lower()
            if key in seen:
                raise ConfigProblem(
                    f"team '{team.name}' appears twice; team names must be unique (any case)"
                )
            seen.add(key)
        return self


@dataclass(frozen=True)
class Teams:
    teams: tuple[Team, ...] = ()
    source: str = "teams.yaml"

    @property
    def without_organisers(self) -> list[str]:
        return [t.name for t in self.teams if not t.organisers]


def load_teams(path: str | Path) -> Teams:
    """Read and structurally check the file (SQL is checked by `validate_teams`); no file
    means no teams."""
    path = Path(path)
    if not path.is_file():
        return Teams(source=str(path))
    return parse_teams(read_yaml(path, TeamsConfigError), str(path))


def parse_teams(data: Any, source: str = "teams.yaml") -> Teams:
    """The teams in `data` (a file's mapping); TeamsConfigError names `source`, the path
    inside it and what is allowed there."""
    config = validated(TeamsFile, data, source, TeamsConfigError)
    return Teams(config.teams, source)


def validate_teams(con: duckdb.DuckDBPyConnection, teams: Teams, relation: str) -> None:
    """Bind every team's rule against `relation` (the columns lists use) in a config sandbox
    holding it with no rows, so an unknown column or a SQL error names the team before
    anything is written; DuckDB's message can quote no one's data there."""
    columns = [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()]
    for position, team in enumerate(teams.teams, start=1):
        at = f"{teams.source}: teams[{position}]"
        try:
            con.execute(
                f"SELECT ({team.predicate()})::BOOLEAN, {team.why_sql()} FROM {relation} LIMIT 0"
            ).fetchall()
        except duckdb.Error as exc:
            raise TeamsConfigError(_rule_message(at, team, exc, columns)) from None


def _rule_message(at: str, team: Team, exc: duckdb.Error, columns: list[str]) -> str:
    unknown = _UNKNOWN_COLUMN.search(str(exc))
    if unknown and team.where:
        name = unknown.group(1)
        close = difflib.get_close_matches(name, columns, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return (
            f"{at}.where (team '{team.name}'): unknown column '{name}'{hint} Rules may use the columns lists use "
            "(person_metrics, tier, tier_rank, tier_30d_ago, first_seen_date, ...: see the "
            "user guide); nothing was written"
        )
    key = ".where" if team.where else ".tags"
    return (
        f"{at}{key} (team '{team.name}'): the rule does not run: {bind_message(exc)}; "
        "nothing was written"
    )
