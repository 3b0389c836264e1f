"""Config SQL reaches no file (issue 11, case 7): rung and list rules, `group_by` and
`order_by` run on a sandbox connection that sees only the rows it is given."""

from pathlib import Path

import duckdb
import pytest

from tests.support.raw import NOW
from tests.transforms.test_lists import RUNGS, put_ladder, put_metrics
from transforms import config_sql
from transforms.exports import write_list_exports
from transforms.ladder import build_ladder
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.segments import build_segments

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load(ROOT / "ladder.yaml")
SECRET_FILE = ROOT / ".env.example"
PEOPLE = {"a": {"actions_90d": 3, "region": "North"}, "b": {"region": "South"}}


def ladder_with(rule: str):
    return parse(
        {
            "namespace": "gs:",
            "rungs": [{"name": "snoop", "where": rule}, {"name": "rest", "where": "true"}],
        }
    )


def lists_with(**item):
    return parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [{"name": "snoop", "where": "true", "columns": ["person_id"], **item}],
        }
    )


def snapshot(con, table: str) -> list:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


@pytest.mark.parametrize(
    "rule",
    [
        "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
        f"(SELECT count(*) FROM read_text('{SECRET_FILE}')) > 0",
        "(SELECT count(*) FROM glob('/etc/*')) > 0",
        "(SELECT count(*) FROM read_parquet('/tmp/anything.parquet')) > 0",
    ],
)
def test_a_rung_that_reads_a_file_is_refused_and_the_ladder_kept(con, rule):
    put_metrics(con, PEOPLE)
    build_ladder(con, DEFAULT, NOW)
    before = snapshot(con, "ladder")
    with pytest.raises(LadderConfigError, match="rung 'snoop': the rule does not run") as failure:
        build_ladder(con, ladder_with(rule), NOW)
    assert "rules may only use the columns" in str(failure.value)
    assert "root:" not in str(failure.value)
    assert snapshot(con, "ladder") == before, "the good ladder is kept"


def test_a_rung_cannot_read_other_warehouse_tables(con):
    put_metrics(con, PEOPLE)
    rule = "person_id IN (SELECT person_id FROM people)"
    with pytest.raises(LadderConfigError, match=r"rung 'snoop': the rule does not run.*people"):
        build_ladder(con, ladder_with(rule), NOW)


def test_a_group_by_that_reads_a_file_never_reaches_names_or_the_index(con, tmp_path):
    secret = SECRET_FILE.read_text().splitlines()[0]
    out = tmp_path / "out"
    good = lists_with(group_by="region")
    put_metrics(con, PEOPLE)
    put_ladder(con, dict.fromkeys(PEOPLE, ("bottom", 3)))
    build_segments(con, good, NOW)
    write_list_exports(con, good, out, NOW)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    snoop = lists_with(group_by=f"(SELECT content FROM read_text('{SECRET_FILE}'))")
    # Refused when the lists are built, and by the exports themselves.
    with pytest.raises(LadderConfigError, match="list 'snoop': 'group_by' does not run"):
        build_segments(con, snoop, NOW)
    with pytest.raises(LadderConfigError, match="list 'snoop': 'group_by' does not run") as failure:
        write_list_exports(con, snoop, out, NOW)
    assert secret not in str(failure.value)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the previous exports are kept"
    assert not [p for p in tmp_path.rglob("*") if secret[:20] in p.name]


def test_an_order_by_that_reads_a_file_is_refused(con):
    put_metrics(con, PEOPLE)
    put_ladder(con, {})
    snoop = lists_with(order_by="(SELECT count(*) FROM read_csv('/etc/passwd'))", limit=1)
    with pytest.raises(LadderConfigError, match="list 'snoop': 'order_by' does not run"):
        build_segments(con, snoop, NOW)


def test_the_sandbox_cannot_be_reopened_or_extended():
    sandbox = config_sql.connect_sandbox(threads=1)
    try:
        assert sandbox.execute("SELECT current_setting('enable_external_access')").fetchall() == [
            (False,)
        ]
        with pytest.raises(duckdb.Error, match="locked"):
            sandbox.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.PermissionException):
            sandbox.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(duckdb.Error):
            sandbox.execute("INSTALL httpfs")
        with pytest.raises(duckdb.Error):
            sandbox.execute("ATTACH '/tmp/elsewhere.duckdb'")
    finally:
        sandbox.close()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("actions_90d >= 3", "expression"),
        ("hosted_ever OR (volunteered AND events_attended_180d >= 2)", "expression"),
        ("(SELECT max(actions_90d) FROM _ladder_input) = actions_90d", "expression"),
        ("actions_90d >= 3 -- a comment", "expression"),
        ("left(postal_code, 3)", "expression"),
        ("recruits_who_acted DESC, second_degree_reach DESC", "order"),
        ("actions_90d >>> 2", "expression"),  # a syntax error: named later, with the rows
    ],
)
def test_expressions_pass_the_shape_check(text, kind):
    assert config_sql.shape_problem(text, kind) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("true; DROP TABLE people", "expression"),
        ("true) UNION SELECT (1", "expression"),
        ("1), (SELECT content FROM read_text('.env')", "expression"),
        ("1) , (2", "expression"),
        ("a DESC LIMIT 1", "order"),
        ("a DESC OFFSET 2", "order"),
    ],
)
def test_what_is_not_one_expression_is_refused_at_load(text, kind):
    assert config_sql.shape_problem(text, kind)


def test_statements_in_config_are_refused_when_the_file_is_read():
    with pytest.raises(LadderConfigError, match="rung 'snoop': 'where' must be one SQL"):
        ladder_with("true) UNION SELECT (1")
    with pytest.raises(LadderConfigError, match="list 'snoop': 'group_by' must be one SQL"):
        lists_with(group_by="region), (SELECT content FROM read_text('.env')")


def test_only_the_columns_a_rule_reads_are_handed_over():
    available = ["person_id", "email", "actions_90d", "platform_tags", "region"]
    assert config_sql.referenced_columns(["actions_90d >= 3"], available) == ["actions_90d"]
    rung = DEFAULT.rungs[0].predicate()  # hq: tags, with a lambda over them
    assert config_sql.referenced_columns([rung], available) == ["platform_tags"]
    assert config_sql.referenced_columns(["COLUMNS('a.*') > 1"], available) == available
    assert config_sql.referenced_columns(["actions_90d >= ("], available) == available


def test_good_rules_give_the_same_ladder_and_lists_as_before(con):
    """The default ladder and lists in the sandbox on hand-built people."""
    put_metrics(
        con,
        {
            "hq": {"platform_tags": ["Core Team"], "email": "hq@example.org"},
            "act": {"actions_90d": 4, "actions_365d": 4, "email": "a@example.org"},
            "new": {"days_since_joined": 2, "email": "n@example.org", "email_reachable": True},
            "gone": {"email_suppressed": True, "email_reachable": False},
        },
    )
    counts = build_ladder(con, DEFAULT, NOW)
    assert {k: v for k, v in counts.items() if v} == {
        "hq": 1,
        "activist": 1,
        "subscriber": 1,
        "lapsed": 1,
    }
    lists = build_segments(con, DEFAULT, NOW)
    assert lists["list:welcome_new"] == 1 and lists["tier:hq"] == 1
