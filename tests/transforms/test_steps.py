"""SQL steps name their inputs and outputs (issue 13, item 3): every step file's header is
its declaration in transforms/steps.py, every read is a warehouse table or written by an
earlier step, no temporary object crosses a file, a step runs alone on a warehouse that has
its inputs, and forgetting someone leaves nothing of them in the `stage` schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.raw import NOW, an_person, land, mc_member
from transforms import steps
from transforms.engagement import build_activities, build_person_metrics
from transforms.erasure import Target, email_hash, forget
from transforms.identity import resolve
from transforms.ladder import build_ladder, build_movement
from transforms.ladder_config import load
from transforms.normalise import build_staging
from warehouse.connection import connect
from warehouse.load import run_sql_file

ROOT = Path(__file__).resolve().parents[2]
SQL_STEPS = [s for s in steps.STEPS if s.file]
# Generated elsewhere (the declared metrics), run by transforms/engagement.py; and a
# query that writes nothing (the data checks' measures, transforms/data_checks.py).
NOT_STEPS = {"person_metrics.sql", "data_checks.sql"}
UDFS = {"phone_parts()"}
FORGOTTEN = "rosa.erasable@example.org"


def code_of(path: Path) -> str:
    """The file without comments (SQL `--`, Python `#`), so prose does not count."""
    mark = "--" if path.suffix == ".sql" else "#"
    return "\n".join(line.split(mark, 1)[0] for line in path.read_text().splitlines())


def test_every_sql_file_is_a_declared_step_and_its_header_is_the_declaration():
    files = {p.name for p in (ROOT / "transforms").glob("*.sql")} - NOT_STEPS
    assert files == {s.file for s in SQL_STEPS}
    for step in SQL_STEPS:
        declared = {k: getattr(step, k) for k in steps.HEADER_KEYS[1:]}
        assert steps.header(step.path) == {"step": (step.name,), **declared}, step.file
        assert step.path.read_text().startswith(steps.header_text(step)), step.file


def test_step_names_are_unique_and_groups_contiguous():
    names = [s.name for s in steps.STEPS]
    assert len(names) == len(set(names))
    seen: list[str] = []
    for step in steps.STEPS:
        if not seen or seen[-1] != step.group:
            assert step.group not in seen, f"group {step.group} is split at {step.name}"
            seen.append(step.group)


def test_every_read_is_a_warehouse_table_or_written_by_an_earlier_step(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
            ).fetchall()
        }
    written: set[str] = set()
    for step in steps.STEPS:
        for name in step.reads:
            if name in written:
                continue
            assert "." not in name and not name.endswith("()"), (
                f"step {step.name} reads {name}, which no earlier step writes"
            )
            assert name in tables, f"step {step.name} reads {name}: no such warehouse table"
        assert set(step.udfs) <= UDFS, step.name
        for name in step.writes:
            assert name.endswith("()") or name.startswith("stage.") or name in tables, name
        written |= set(step.writes)


def test_each_file_uses_exactly_what_it_declares():
    macros = {n[:-2] for s in steps.STEPS for n in s.writes if n.endswith("()")}
    for step in SQL_STEPS:
        code = code_of(step.path)
        declared = set(step.reads) | set(step.writes)
        used_stage = set(re.findall(r"\bstage\.\w+", code))
        assert used_stage <= declared, (step.name, used_stage - declared)
        made = set(re.findall(r"CREATE OR REPLACE (?:TABLE|VIEW) (stage\.\w+)", code))
        assert made <= set(step.writes), (step.name, made - set(step.writes))
        assert {f"${p}" for p in re.findall(r"\$(\w+)", code)} == set(step.params), step.name
        called = {m for m in macros if re.search(rf"(?<![\w.]){m}\(", code)}
        created = set(re.findall(r"CREATE OR REPLACE MACRO (\w+)", code))
        assert {f"{m}()" for m in called - created} <= set(step.reads), step.name
        assert {f"{m}()" for m in created} == {w for w in step.writes if w.endswith("()")}
        udfs = {u for u in UDFS if re.search(rf"(?<![\w.]){re.escape(u[:-2])}\(", code)}
        assert udfs == set(step.udfs), step.name
        for name in declared:  # and nothing is declared that the file does not touch
            pattern = (
                rf"{re.escape(name[:-2])}\(" if name.endswith("()") else rf"\b{re.escape(name)}\b"
            )
            assert re.search(pattern, code), f"{step.file} declares {name} but never uses it"


def test_no_file_reads_a_temporary_object_it_did_not_create():
    files = [
        *sorted(p for p in (ROOT / "transforms").glob("*.sql") if p.name not in NOT_STEPS),
        *sorted((ROOT / "transforms").glob("*.py")),
        *sorted((ROOT / "connectors").rglob("*.sql")),
    ]
    made: dict[str, set[Path]] = {}
    for path in files:
        for name in re.findall(
            r"CREATE (?:OR REPLACE )?TEMP(?:ORARY)? (?:TABLE|VIEW|MACRO) (\w+)", code_of(path)
        ):
            made.setdefault(name, set()).add(path)
        if path.suffix == ".py":  # names kept in constants, e.g. INPUT = "_ladder_input"
            for name in re.findall(r'^[A-Z_]+ = "(_\w+)"', path.read_text(), re.M):
                made.setdefault(name, set()).add(path)
    assert len(made) > 50  # the scan sees the temp objects that stay inside their file
    crossing = sorted(
        f"{name} (made in {sorted(p.name for p in makers)}) read in {path.name}"
        for name, makers in made.items()
        for path in files
        if path not in makers and re.search(rf"(?<![\w.]){re.escape(name)}\b", code_of(path))
    )
    assert crossing == []


def test_a_step_whose_input_is_missing_names_it_and_the_step_that_writes_it(con):
    with pytest.raises(steps.MissingInput) as raised:
        steps.run(con, "identity_links", {"link": 0.9, "review": 0.5})
    message = str(raised.value)
    assert "stage.id_records" in message and "'identity_edges'" in message
    with pytest.raises(steps.MissingInput, match="phone_parts"):
        steps.run(con, "staging", {})


def small_org(con) -> None:
    land(
        con,
        an=[
            an_person("Rosa", "Erasable", FORGOTTEN, postal_code="62701", uuid="u-rosa"),
            an_person("Tom", "Keeper", "tom.keeper@example.org", uuid="u-tom"),
            an_person("Ana", "Lima", "ana.lima@example.org", phone="2025550143", uuid="u-ana"),
        ],
        mc=[
            mc_member("Rosa", "Erasable", FORGOTTEN),
            mc_member("Ana", "Lima", "ana.lima@example.org"),
        ],
        forms={"signup.csv": [{"given_name": "Rosa", "family_name": "E", "email": FORGOTTEN}]},
    )


def build(con) -> None:
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    build_person_metrics(con, NOW)
    ladder = load(str(ROOT / "ladder.yaml"))
    build_ladder(con, ladder, NOW)
    build_movement(con, ladder)


def test_steps_run_alone_on_a_warehouse_that_has_their_inputs(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        small_org(con)
        build(con)
    queries = {
        "people": "SELECT * FROM people ORDER BY ALL",
        "activities": "SELECT * FROM activities ORDER BY ALL",
        "ladder_movement": "SELECT * FROM ladder_movement ORDER BY ALL",
    }
    # A new connection: nothing temporary, no UDF registered; only what the warehouse keeps.
    with connect(path) as con:
        temporary = "SELECT count(*) FROM duckdb_tables() WHERE temporary"
        assert con.execute(temporary).fetchall() == [(0,)]
        before = {name: con.execute(sql).fetchall() for name, sql in queries.items()}
        assert all(before.values()), {k: len(v) for k, v in before.items()}
        con.execute("DELETE FROM people")
        con.execute("DELETE FROM activities")
        con.execute("DELETE FROM ladder_movement")
        steps.run(con, "people")
        steps.run(con, "activities")
        steps.run(con, "ladder_movement")
        after = {name: con.execute(sql).fetchall() for name, sql in queries.items()}
    assert after == before


def stage_rows_holding(con, text: str) -> dict[str, int]:
    """Rows of each table in `stage` whose any column holds `text`."""
    found = {}
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'stage'"
    ).fetchall()
    for (name,) in names:
        n = con.execute(
            f'SELECT count(*) FROM stage."{name}" AS r WHERE contains(lower(CAST(r AS VARCHAR)), ?)',
            [text],
        ).fetchall()[0][0]
        if n:
            found[name] = n
    return found


def test_forgetting_someone_leaves_nothing_of_them_in_stage(con):
    small_org(con)
    build(con)
    assert stage_rows_holding(con, FORGOTTEN), "the build keeps them in stage tables"
    forget(con, Target(email_hash=email_hash(FORGOTTEN)), NOW, "US")
    assert stage_rows_holding(con, FORGOTTEN) == {}
    # The next run rebuilds the stage, still without them (they are suppressed).
    build(con)
    assert stage_rows_holding(con, "ana.lima@example.org")
    assert stage_rows_holding(con, FORGOTTEN) == {}


def test_a_step_that_fails_inside_its_transaction_changes_nothing(con, tmp_path):
    """people.sql and activities.sql swap their table in a transaction of their own: a
    failure half-way rolls it back and leaves the connection usable."""
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    script = tmp_path / "swap.sql"
    script.write_text(
        "BEGIN TRANSACTION;\nDELETE FROM t;\nINSERT INTO t SELECT 'not a number'::INTEGER;\n"
        "COMMIT;\n"
    )
    with pytest.raises(Exception, match="Conversion"):
        run_sql_file(con, script)
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
