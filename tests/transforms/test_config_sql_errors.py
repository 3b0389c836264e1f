"""A rule that fails at run time leaks no one's data (issue 11, case 8): it is named with
its expression and the kind of error, never DuckDB's message (which quotes the value), and
the exception carries no chained DuckDB error."""

import traceback

import pytest

from tests.support.raw import NOW
from tests.transforms.test_lists import RUNGS, put_ladder, put_metrics
from transforms.exports import write_list_exports
from transforms.ladder import build_ladder
from transforms.ladder_config import LadderConfigError, load, parse
from transforms.segments import build_segments

DEFAULT = load("ladder.yaml")
ADDRESS = "private.person@example.org"
PEOPLE = {"a": {"email": ADDRESS, "region": "North"}, "b": {"email": None, "region": "South"}}


def everything_said(failure: pytest.ExceptionInfo) -> str:
    """The message, the whole printed traceback and any chained exception."""
    error = failure.value
    text = str(error) + "".join(traceback.format_exception(error))
    assert error.__cause__ is None and error.__context__ is None, "no DuckDB error chained"
    return text


def test_a_rung_that_fails_on_the_data_is_named_without_the_value(con):
    put_metrics(con, PEOPLE)
    build_ladder(con, DEFAULT, NOW)
    before = con.execute("SELECT * FROM ladder ORDER BY ALL").fetchall()
    ladder = parse(
        {
            "namespace": "gs:",
            "rungs": [
                {"name": "fine", "where": "actions_90d > 100"},
                {"name": "casting", "where": "CAST(email AS INTEGER) > 0"},
                {"name": "rest", "where": "true"},
            ],
        }
    )
    with pytest.raises(LadderConfigError) as failure:
        build_ladder(con, ladder, NOW)
    said = everything_said(failure)
    assert "rung 'casting'" in said and "`CAST(email AS INTEGER) > 0`" in said
    assert "ConversionException" in said and "TRY_CAST" in said
    assert ADDRESS not in said and "private.person" not in said
    assert con.execute("SELECT * FROM ladder ORDER BY ALL").fetchall() == before


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ({"where": "CAST(email AS INTEGER) > 0"}, "where"),
        ({"order_by": "CAST(email AS INTEGER)", "limit": 1}, "order_by"),
    ],
)
def test_a_list_that_fails_on_the_data_is_named_without_the_value(con, item, key):
    put_metrics(con, PEOPLE)
    put_ladder(con, dict.fromkeys(PEOPLE, ("bottom", 3)))
    build_segments(con, DEFAULT, NOW)
    before = con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall()
    config = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [{"name": "casting", "where": "true", **item}],
        }
    )
    with pytest.raises(LadderConfigError) as failure:
        build_segments(con, config, NOW)
    said = everything_said(failure)
    assert f"list 'casting': the rule does not run on the data: '{key}'" in said
    assert "ConversionException" in said and ADDRESS not in said
    assert con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall() == before


def test_a_group_by_that_fails_on_the_data_is_named_and_the_exports_kept(con, tmp_path):
    put_metrics(con, PEOPLE)
    put_ladder(con, dict.fromkeys(PEOPLE, ("bottom", 3)))
    good = parse(
        {"namespace": "gs:", "rungs": RUNGS, "lists": [{"name": "casting", "where": "true"}]}
    )
    build_segments(con, good, NOW)
    write_list_exports(con, good, tmp_path / "out", NOW)
    before = (tmp_path / "out" / "casting" / "all.csv").read_bytes()
    broken = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [{"name": "casting", "where": "true", "group_by": "CAST(email AS INTEGER)"}],
        }
    )
    with pytest.raises(LadderConfigError) as failure:
        write_list_exports(con, broken, tmp_path / "out", NOW)
    said = everything_said(failure)
    assert "list 'casting': the rule does not run on the data: 'group_by'" in said
    assert ADDRESS not in said
    assert (tmp_path / "out" / "casting" / "all.csv").read_bytes() == before


def test_the_failing_group_by_is_blamed_not_a_where_that_already_ran(con, tmp_path):
    """The export sees only the list's rows and its order and group columns: its `where`
    ran when the list was built and must not be tried (and blamed) again there."""
    put_metrics(con, PEOPLE)
    put_ladder(con, dict.fromkeys(PEOPLE, ("bottom", 3)))
    config = parse(
        {
            "namespace": "gs:",
            "rungs": RUNGS,
            "lists": [
                {
                    "name": "casting",
                    "where": "actions_90d >= 0",
                    "group_by": "CAST(email AS INTEGER)",
                }
            ],
        }
    )
    build_segments(con, config, NOW)
    with pytest.raises(LadderConfigError) as failure:
        write_list_exports(con, config, tmp_path / "out", NOW)
    said = everything_said(failure)
    assert "the rule does not run on the data: 'group_by'" in said, said
    assert "'where'" not in said and ADDRESS not in said
