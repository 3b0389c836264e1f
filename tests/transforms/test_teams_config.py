"""teams.yaml is typed like the other config files: a typo'd key, a value of the wrong
kind, a duplicate team, a team with no rule or a mistyped organiser address is refused with
one message naming the file and the path inside it, repeating no value from the file."""

from pathlib import Path

import pytest

from transforms.teams_config import TeamsConfigError, load_teams, parse_teams

ROOT = Path(__file__).resolve().parents[2]
SECRET = "ana.lima@example.org"  # never repeated in a message
TEAM = {"name": "north", "where": "region = 'TX'", "organisers": ["lead@example.org"]}
TEAM_KEYS = "name, description, where, tags, organisers"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"team": [TEAM]}, "teams.yaml: team: unknown key; allowed keys: teams"),
        (
            {"teams": [TEAM, {**TEAM, "name": "south", "members": SECRET}]},
            f"teams.yaml: teams.south.members: unknown key; allowed keys: {TEAM_KEYS}",
        ),
        (
            {"teams": [TEAM, {"name": "South Side!", "where": "true"}]},
            "teams.yaml: teams[2].name: must be text of 1 to 80 characters",
        ),
        ({"teams": [{"where": SECRET}]}, "teams.yaml: teams[1].name: missing; give text"),
        (
            {"teams": [TEAM, {"name": "b", "where": [SECRET]}]},
            "teams.yaml: teams.b.where: must be text",
        ),
        (
            {"teams": [TEAM, {"name": "b", "where": "true", "organisers": SECRET}]},
            "teams.yaml: teams.b.organisers: must be a list, each an email address",
        ),
        (
            {"teams": [{**TEAM, "organisers": ["lead@example.org", "not-an-address"]}]},
            "teams.yaml: teams.north.organisers[2]: must be an email address",
        ),
        (
            {"teams": [{**TEAM, "tags": SECRET}]},
            "teams.yaml: teams.north.tags: must be a list, each text",
        ),
        ({"teams": {"north": TEAM}}, "teams.yaml: teams: must be a list, each a mapping"),
        ([SECRET], "teams.yaml: must be a mapping with the keys teams"),
        (
            {"teams": [TEAM, {**TEAM, "name": "North"}]},
            "teams.yaml: team 'North' appears twice; team names must be unique",
        ),
        (
            {"teams": [{"name": "north", "organisers": ["lead@example.org"]}]},
            "teams.yaml: team 'north': has no rule; give 'where' (a SQL rule) or 'tags'",
        ),
        (
            {"teams": [{"name": "north", "where": "  ", "tags": []}]},
            "teams.yaml: team 'north': has no rule",
        ),
        (
            {"teams": [{**TEAM, "where": "true; DROP TABLE people"}]},
            "teams.yaml: team 'north': 'where' must be one SQL expression, without ';'",
        ),
        (
            {"teams": [{**TEAM, "name": "No Team"}]},
            "teams.yaml: team 'No Team': the name is kept for the part of a list split by team",
        ),
    ],
)
def test_teams_mistakes_name_the_path_and_what_is_allowed(data, message):
    with pytest.raises(TeamsConfigError) as raised:
        parse_teams(data)
    text = str(raised.value)
    assert text.startswith(message), text
    assert len(text.splitlines()) == 1, "one message"
    assert SECRET not in text and "not-an-address" not in text, "no value from the file"


def test_a_team_without_organisers_is_allowed_and_counted():
    teams = parse_teams(
        {"teams": [TEAM, {"name": "forming", "tags": ["Volunteer"]}, {**TEAM, "name": "c"}]}
    )
    assert [t.name for t in teams.teams] == ["north", "forming", "c"]
    assert teams.without_organisers == ["forming"]


def test_names_organisers_and_tags_are_tidied():
    team = parse_teams(
        {
            "teams": [
                {
                    "name": "  North   Austin ",
                    "where": " region = 'TX' ",
                    "tags": ["Volunteer", " ", "Volunteer"],
                    "organisers": ["Lead@Example.org", "lead@example.org "],
                }
            ]
        }
    ).teams[0]
    assert team.name == "North Austin" and team.where == "region = 'TX'"
    assert team.tags == ("Volunteer",) and team.organisers == ("lead@example.org",)
    assert team.rule_text() == "where: region = 'TX'; tags: Volunteer"


def test_the_shipped_file_loads_and_a_missing_file_means_no_teams(tmp_path):
    shipped = load_teams(ROOT / "teams.yaml")
    assert len(shipped.teams) >= 6 and shipped.without_organisers == []
    assert any(t.tags for t in shipped.teams) and any(t.where for t in shipped.teams)
    assert load_teams(tmp_path / "absent.yaml").teams == ()


def test_a_teams_file_names_itself_and_never_quotes_its_lines(tmp_path):
    path = tmp_path / "teams.yaml"
    path.write_text(f"teams:\n  - name: north\n    where: '{SECRET}'\n    organiser: x\n")
    with pytest.raises(TeamsConfigError) as raised:
        load_teams(path)
    assert str(raised.value).startswith(f"{path}: teams.north.organiser: unknown key")
    path.write_text(f"teams:\n  - name: north\n    where: '{SECRET}\n")
    with pytest.raises(TeamsConfigError) as raised:
        load_teams(path)
    assert str(raised.value).startswith(f"{path}: not valid YAML (line")
    assert SECRET not in str(raised.value)
