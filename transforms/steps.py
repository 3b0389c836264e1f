"""The SQL steps of the warehouse build, declared once and in order: what each reads and
writes, and which Dagster asset runs it. A step reads named warehouse tables, `stage.`
tables or views (the intermediates, in the warehouse's `stage` schema), macros (`name()`)
written by an earlier step, and UDFs registered in Python; temporary objects never leave
the file that makes them. `run` executes a step by name after checking its inputs exist.

A SQL step's file starts with the same declaration as a header (see `header`):

    -- step: identity_edges
    -- reads: stg_source_records, stage.name_canonical
    -- writes: stage.id_records, stage.id_rule_order, stage.id_edges
    -- params: -
    -- udfs: -

A Python step (`file` None) is a function that calls `require` before it reads."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.load import run_sql_file, split_statements

HERE = Path(__file__).parent
STAGE = "stage"
HEADER_KEYS = ("step", "reads", "writes", "params", "udfs")


@dataclass(frozen=True)
class Step:
    name: str
    group: str  # the Dagster asset (or operation) that runs it
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    params: tuple[str, ...] = ()  # `$name`s bound by the caller
    udfs: tuple[str, ...] = ()  # Python functions registered on the connection
    file: str | None = None  # transforms/<file>; None: the Python function `runs`
    runs: str = ""  # for a Python step: module:function

    @property
    def path(self) -> Path | None:
        return HERE / self.file if self.file else None


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip() and n.strip() != "-")


def sql(name: str, group: str, reads: str, writes: str, params: str = "", udfs: str = "") -> Step:
    """A step run from transforms/<name>.sql."""
    return Step(
        name, group, _names(reads), _names(writes), _names(params), _names(udfs), f"{name}.sql"
    )


def python(name: str, group: str, runs: str, reads: str, writes: str) -> Step:
    """A step done in Python (clustering, scoring, rules run in the config sandbox)."""
    return Step(name, group, _names(reads), _names(writes), runs=runs)


CONSENT_MACROS = (
    "consent_text(), consent_refused(), consent_yes_words(), consent_yes_rest(), "
    "consent_names(), consent_qualified(), consent_answer()"
)
VALUE_MACROS = (
    "utc_ts(), form_ts(), clean_email(), email_key(), name_norm(), address_norm(), "
    "street_parts(), street_name_key(), " + CONSENT_MACROS + ", "
    "answer_norm(), says_yes(), attended_answer(), referral_code(), version_order()"
)
ID_TABLES = "identity_links, identity_review, identity_decisions, identity_conflicts"

# The order the pipeline runs them in. Groups are contiguous and follow the asset graph
# (tests/pipelines/test_step_order.py); `forget` is `make forget`, outside the graph.
STEPS: tuple[Step, ...] = (
    # -- stg_source_records: transforms/normalise.py
    sql("macros", "stg_source_records", "-", VALUE_MACROS),
    sql(
        "erasure_macros",
        "stg_source_records",
        "clean_email(), email_key()",
        "erasure_email_hashes(), erasure_phone_text()",
    ),
    # The suppression purge (transforms/erasure.py): each platform's contacts.sql lists what
    # its raw rows carry, suppressed finds the records to drop, each platform's purge.sql
    # deletes its raw rows of them (also run after suppressed_names and erasure).
    python(
        "platform_contacts",
        "stg_source_records",
        "transforms.erasure:contacts_platforms",
        "-",
        "stage.contacts_platforms, stage.landed_platforms",
    ),
    sql(
        "suppressed",
        "stg_source_records",
        "stage.contacts_platforms, quarantine, erasure_suppressions, phone_parses, "
        "clean_email(), email_key(), erasure_email_hashes(), erasure_phone_text()",
        "quarantine, stage.purge_records, stage.suppressed_by_source",
        "$since, $phone_region, $phone_parser",
        "phone_parts()",
    ),
    python(
        "platform_purge",
        "stg_source_records",
        "transforms.erasure:purge_platforms",
        "stage.purge_records, erasure_suppressions",
        "-",
    ),
    sql("nicknames", "stg_source_records", "-", "stage.name_canonical", "$csv"),
    python(
        "platform_staging",
        "stg_source_records",
        "transforms.normalise:stage_platforms",
        "-",
        "stage.stg_platforms",
    ),
    sql(
        "staging",
        "stg_source_records",
        "stage.stg_platforms, phone_parses, stg_source_records, stage.name_canonical, "
        "clean_email(), email_key(), name_norm(), address_norm(), street_parts(), "
        "street_name_key()",
        "stg_source_records, phone_parses",
        "$placeholder_emails, $placeholder_phones, $placeholder_names, "
        "$placeholder_addresses, $phone_region, $phone_parser",
        "phone_parts()",
    ),
    sql(
        "suppressed_names",
        "stg_source_records",
        "stg_source_records, erasure_suppressions",
        "stage.suppressed_names_by_source, erasure_suppressions, stage.purge_records",
        "$now",
    ),
    # -- people (the identity multi-asset): transforms/identity.py
    sql(
        "identity_edges",
        "people",
        "stg_source_records, stage.name_canonical",
        "stage.id_records, stage.id_rule_order, stage.id_edges",
    ),
    python(
        "identity_decisions_in",
        "people",
        "transforms.identity:load_decisions",
        "-",
        "stage.id_decisions_in",
    ),
    python(
        "identity_scoring",
        "people",
        "transforms.identity_scoring:score_pairs",
        "stage.id_records",
        "stage.id_scored",
    ),
    sql(
        "identity_links",
        "people",
        "stage.id_records, stage.id_edges, stage.id_scored, stage.id_decisions_in",
        "stage.id_decisions, stage.id_scored, stage.id_edges",
        "$link, $review",
    ),
    # identity_components and identity_conflicts repeat until no link is cut; after the
    # first pass, only over the components the pass before cut (stage.id_open).
    python(
        "identity_components",
        "people",
        "transforms.identity:connected_components",
        "stage.id_records, stage.id_edges",
        "stage.id_labels, stage.id_cuts, stage.id_conflicts",
    ),
    sql(
        "identity_open",
        "people",
        "stage.id_labels, stage.id_records, stage.id_edges",
        "stage.id_open, stage.id_open_edges",
    ),
    sql(
        "identity_conflicts",
        "people",
        "stage.id_open, stage.id_open_edges, stage.id_conflicts, stage.id_cuts, stage.id_edges",
        "stage.id_conflicts, stage.id_cut, stage.id_cuts, stage.id_edges, stage.id_open, "
        "stage.id_open_edges",
    ),
    sql(
        "identity_review",
        "people",
        "stage.id_decisions, stage.id_labels, stage.id_scored",
        "stage.id_review",
        "$link",
    ),
    sql(
        "identity_assign",
        "people",
        "stage.id_records, stage.id_edges, stage.id_rule_order, stage.id_labels, "
        "stage.id_cuts, stage.id_conflicts, stage.id_decisions, stage.id_review, "
        f"person_registry, person_merges, person_sources, {ID_TABLES}",
        f"person_registry, person_merges, person_sources, {ID_TABLES}, stage.id_assigned, "
        "stage.id_sources_written",
        "$now",
    ),
    python(
        "source_priority",
        "people",
        "transforms.identity:source_priority",
        "-",
        "stage.source_priority",
    ),
    python(
        "platform_status",
        "people",
        "transforms.status_history:stage_status_history",
        "-",
        "stage.status_history",
    ),
    sql(
        "people",
        "people",
        "stg_source_records, person_sources, person_registry, stage.source_priority, "
        "stage.status_history, people",
        "people, stage.people_written",
    ),
    # -- activities: transforms/engagement.py
    sql(
        "organiser_activities",
        "activities",
        "organiser_outcomes, person_registry, people",
        "stage.organiser_placed, stage.activities_organisers, stage.organiser_contact",
    ),
    python(
        "platform_activities",
        "activities",
        "transforms.engagement:activities_platforms",
        "stage.activities_organisers",
        "stage.activities_platforms, stage.referral_candidates, stage.referral_claims, "
        "stage.activity_stats",
    ),
    sql(
        "referrals",
        "activities",
        "stage.referral_candidates, stage.referral_claims, person_sources, "
        "stg_source_records, clean_email(), email_key(), name_norm(), referral_code()",
        "stage.referrals, stage.referral_stats",
    ),
    sql(
        "activities",
        "activities",
        "stage.activities_platforms, stage.referrals, stg_source_records, person_sources",
        "activities",
    ),
    # -- person_metrics: the declared metrics (transforms/engagement.py)
    python(
        "person_metrics",
        "person_metrics",
        "transforms.metrics:build_person_metrics",
        "activities, people, person_sources, stg_source_records, stage.organiser_contact",
        "person_metrics",
    ),
    # -- ladder: rules from ladder.yaml, run in the config sandbox
    python(
        "ladder",
        "ladder",
        "transforms.ladder:build_ladder",
        "person_metrics, ladder_history",
        "ladder, ladder_history",
    ),
    # -- ladder_movement
    python(
        "ladder_rungs",
        "ladder_movement",
        "transforms.ladder:build_movement",
        "-",
        "stage.ladder_rungs",
    ),
    sql(
        "ladder_movement",
        "ladder_movement",
        "ladder_history, stage.ladder_rungs",
        "ladder_movement",
    ),
    # -- teams: teams.yaml's rules, run in the config sandbox over list_input (made first,
    # as segments does), then the per-team figures: transforms/teams.py
    python(
        "teams",
        "teams",
        "transforms.teams:build_teams",
        "person_metrics, ladder, ladder_history",
        "stage.ladder_history_source, stage.rung_30d_ago, stage.list_input, teams, team_members",
    ),
    sql(
        "team_figures",
        "teams",
        "teams, team_members, ladder_history, stage.ladder_rungs",
        "team_ladder, team_movement",
    ),
    # -- segment_members: transforms/segments.py
    python(
        "list_history",
        "segment_members",
        "transforms.segments:prepare_list_input",
        "activities",
        "stage.ladder_history_source",
    ),
    sql(
        "list_input",
        "segment_members",
        "stage.ladder_history_source, person_metrics, ladder",
        "stage.rung_30d_ago, stage.list_input",
        "$now",
    ),
    python(
        "segments",
        "segment_members",
        "transforms.segments:build_segments",
        "stage.list_input, ladder, activities, list_history",
        "segment_members, list_history",
    ),
    # -- ask_conversion: which asks work, transforms/ask_conversion.py
    sql(
        "list_entries",
        "ask_conversion",
        "list_history, ladder_history, activities",
        "stage.list_entries, stage.list_controls, stage.success_input",
        "$now",
    ),
    python(
        "ask_successes",
        "ask_conversion",
        "transforms.ask_conversion:success_events",
        "stage.success_input",
        "stage.ask_successes, stage.ask_rules",
    ),
    sql(
        "ask_conversion",
        "ask_conversion",
        "stage.list_entries, stage.list_controls, stage.ask_successes, stage.ask_rules, "
        "stage.organiser_placed, teams, team_members",
        "ask_conversion",
        "$now",
    ),
    # -- sync_plan: transforms/sync_plan.py
    python(
        "sync_segments",
        "sync_plan",
        "transforms.sync_plan:build_plan",
        "-",
        "stage.sync_segments",
    ),
    python(
        "destination_state",
        "sync_plan",
        "transforms.destinations:read_state",
        "-",
        "stage.destinations, stage.destination_seen, stage.destination_taggings, "
        "stage.destination_tag_reads, stage.destination_tags, stage.destination_fields",
    ),
    sql(
        "sync_plan",
        "sync_plan",
        "stage.sync_segments, stage.destinations, stage.destination_seen, "
        "stage.destination_taggings, stage.destination_tag_reads, ladder, people, "
        "person_metrics, person_sources, segment_members, stg_source_records, sync_ledger, "
        "sync_rejections",
        "stage.sync_plan, stage.sync_plan_counts, stage.sync_segment_changes",
        "$namespace, $run_id, $now, $retry_days, $merge_field, $mc_tiers, $code_field, "
        "$code_rungs, $mc_new, $an_new, $propagate",
    ),
    python(
        "sync_plan_save",
        "sync_plan",
        "transforms.sync_plan:save_plan",
        "stage.sync_plan",
        "sync_plan, sync_runs",
    ),
    # -- activation_exports: transforms/exports.py (list_input again, at its own time)
    python(
        "exports",
        "activation_exports",
        "transforms.exports:write_list_exports",
        "stage.list_input, segment_members",
        "-",
    ),
    # -- portal_snapshot: transforms/portal_lists.py, then warehouse/snapshot.py publishes
    python(
        "portal_lists",
        "portal_snapshot",
        "transforms.portal_lists:build_portal_lists",
        "stage.list_input, segment_members, team_members",
        "stage.portal_rungs, stage.portal_lists, stage.portal_list_rows",
    ),
    python(
        "portal_snapshot",
        "portal_snapshot",
        "warehouse.snapshot:publish",
        "person_metrics, ladder, ladder_history, activities, segment_members, teams, "
        "team_members, team_ladder, stage.portal_rungs, stage.portal_lists, "
        "stage.portal_list_rows",
        "-",
    ),
    # -- forget (`make forget`): transforms/erasure.py; runs macros and erasure_macros first,
    # and after erasure each platform's purge.sql, then the whole suppression purge again.
    sql(
        "erasure_find",
        "forget",
        "stg_source_records, person_sources, person_merges, people, person_registry, "
        "erasure_email_hashes(), erasure_phone_text()",
        "stage.forget_people, stage.forget_person_ids, stage.forget_records, "
        "stage.forget_keys, stage.forget_match_keys, stage.forget_phones",
        "$hash, $phone_hash, $person_id",
    ),
    sql(
        "erasure",
        "forget",
        "stage.forget_people, stage.forget_person_ids, stage.forget_records, "
        "stage.forget_keys, stage.forget_match_keys, stage.forget_phones",
        f"stage.purge_records, phone_parses, stg_source_records, person_sources, {ID_TABLES}, "
        "missing_records, person_merges, person_registry, people, activities, person_metrics, "
        "ladder, ladder_history, segment_members, list_history, team_members, sync_plan, "
        "sync_ledger, sync_rejections, sync_batch_operations, sync_intents, erasure_suppressions, "
        "organiser_outcomes",
        "$now",
    ),
)
BY_NAME = {step.name: step for step in STEPS}


class MissingInput(RuntimeError):
    """A step's input is not in the warehouse: names it and the step that writes it."""


def writer_of(name: str, before: str | None = None) -> Step | None:
    """The last step before `before` (all steps when None) that writes `name`."""
    found = None
    for step in STEPS:
        if step.name == before:
            break
        if name in step.writes:
            found = step
    return found


def missing(con: duckdb.DuckDBPyConnection, step: Step) -> list[str]:
    """The inputs of `step` the warehouse lacks (tables, views, macros, UDFs)."""
    relations = {
        (schema, name)
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary "
            "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
            "WHERE NOT temporary AND NOT internal"
        ).fetchall()
    }
    wanted = [*step.reads, *step.udfs]
    called = [n[:-2] for n in wanted if n.endswith("()")]
    functions = set()
    if called:
        # Listing DuckDB's functions costs ~35 ms; macros of a current macro step are known.
        functions = _marked_macros(con) & set(called)
        called = [n for n in called if n not in functions]
    if called:
        # Macros are kept in the warehouse; UDFs registered from Python list as internal.
        functions |= {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT function_name FROM duckdb_functions() "
                "WHERE list_contains(?, function_name)",
                [called],
            ).fetchall()
        }
    lacking = []
    for name in wanted:
        if name.endswith("()"):
            present = name[:-2] in functions
        else:
            schema, _, table = name.rpartition(".")
            present = (schema or "main", table) in relations
        if not present:
            lacking.append(name)
    return lacking


def require(con: duckdb.DuckDBPyConnection, name: str) -> Step:
    """The step, once every input it reads exists; else MissingInput naming what to run."""
    step = BY_NAME[name]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGE}")
    if problem := _missing_input(con, step):
        raise problem
    return step


def _missing_input(con: duckdb.DuckDBPyConnection, step: Step) -> MissingInput | None:
    """MissingInput naming the first input of `step` the warehouse lacks and what makes it."""
    lacking = missing(con, step)
    if not lacking:
        return None
    what = lacking[0]
    if what in step.udfs:
        hint = "a Python function the caller registers (transforms/phones.py register)"
    elif (writer := writer_of(what, step.name)) is not None:
        hint = f"written by step '{writer.name}' ({writer.file or writer.runs}): run it first"
    else:
        hint = "a warehouse table: open the warehouse with warehouse.connection.connect"
    more = f" (and {len(lacking) - 1} more: {', '.join(lacking[1:])})" if len(lacking) > 1 else ""
    return MissingInput(f"step '{step.name}' reads {what}, which is missing; {hint}{more}")


@contextmanager
def _inputs_named_on_failure(
    con: duckdb.DuckDBPyConnection, step: Step, where: Path | None = None
) -> Iterator[None]:
    """Run a SQL step; when DuckDB refuses it and an input it reads is missing, raise
    MissingInput naming the input and the step that writes it. Looked up only on failure:
    listing the catalog costs ~10 ms a step, and in a run every input is there."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {STAGE}")
    try:
        yield
    except duckdb.Error:
        try:
            problem = _missing_input(con, step)
        except duckdb.Error:  # a caller's transaction, aborted: its error is the one to see
            problem = None
        if problem:
            raise MissingInput(f"{where}: {problem}" if where else str(problem)) from None
        raise


def run(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> None:
    """Run SQL step `name` (transforms/<name>.sql); `$param`s are bound by name. An input
    it reads that is missing raises MissingInput naming it."""
    step = BY_NAME[name]
    if step.path is None:
        raise ValueError(f"step '{name}' is done in Python ({step.runs}), not from a file")
    with _inputs_named_on_failure(con, step):
        if _makes_only_macros(step):
            # Macros persist in the warehouse: made again only when their file changed
            # (each remake rewrites the catalog, about a tenth of a second, on every
            # staging run).
            text = step.path.read_bytes()
            if _macros_mark(con, step) == hashlib.sha256(text).hexdigest():
                return
            run_sql_file(con, step.path, params)
            _mark_macros(con, step, hashlib.sha256(text).hexdigest())
            return
        run_sql_file(con, step.path, params)


MARKS = f"{STAGE}.macro_marks"  # which version of each macro step's file the warehouse holds


def _makes_only_macros(step: Step) -> bool:
    return bool(step.writes) and all(w.endswith("()") for w in step.writes)


def _macros_mark(con: duckdb.DuckDBPyConnection, step: Step) -> str | None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {MARKS} (step VARCHAR PRIMARY KEY, sha VARCHAR)")
    row = con.execute(f"SELECT sha FROM {MARKS} WHERE step = ?", [step.name]).fetchone()
    return row[0] if row else None


def _mark_macros(con: duckdb.DuckDBPyConnection, step: Step, sha: str) -> None:
    con.execute(f"INSERT OR REPLACE INTO {MARKS} VALUES (?, ?)", [step.name, sha])


def _marked_macros(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The macros written by macro steps whose current file the warehouse holds."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
        [STAGE, MARKS.split(".")[1]],
    ).fetchone()[0]
    if not exists:
        return set()
    marked = dict(con.execute(f"SELECT step, sha FROM {MARKS}").fetchall())
    return {
        w[:-2]
        for step in STEPS
        if step.name in marked
        and step.path is not None
        and marked[step.name] == hashlib.sha256(step.path.read_bytes()).hexdigest()
        for w in step.writes
    }


def run_file(con: duckdb.DuckDBPyConnection, path: Path, params: dict | None = None) -> None:
    """Run a step file declared by its own header (a platform's, outside this list) after
    checking its inputs exist."""
    declared = header(path)
    step = Step(
        declared.get("step", (path.stem,))[0],
        "platform",
        declared.get("reads", ()),
        declared.get("writes", ()),
        declared.get("params", ()),
        declared.get("udfs", ()),
    )
    with _inputs_named_on_failure(con, step, path):
        text = path.read_text()
        if step.params or not _definitions_only(text):
            run_sql_file(con, path, params)
            return
        # Views and macros only: made again only when the file (or the schema) changed.
        # Binding a platform's staging view costs up to a fifth of a second on every
        # staging run.
        views = [w for w in step.writes if not w.endswith("()")]
        if not _defined(con, f"file:{path.parent.name}/{path.name}", text, views):
            run_sql_file(con, path, params)
            _define_mark(con, f"file:{path.parent.name}/{path.name}", text)


_DEFINITION = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+(VIEW|MACRO)\b", re.IGNORECASE)


def _definitions_only(text: str) -> bool:
    """Whether every statement of a SQL file creates a view or a macro (nothing else)."""
    statements = [
        "\n".join(line.split("--", 1)[0] for line in s.splitlines()) for s in split_statements(text)
    ]
    return bool(statements) and all(_DEFINITION.match(s) for s in statements)


def _definition_sha(con: duckdb.DuckDBPyConnection, text: str) -> str:
    # A migration may change the tables a view reads: the schema's version is part of it.
    version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    return hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()


def _defined(con: duckdb.DuckDBPyConnection, key: str, text: str, views: list[str]) -> bool:
    """Whether the warehouse holds the views (and macros) `text` makes, as `text` makes
    them (marked by _define_mark, in MARKS: erasure's clear_stage drops both together)."""
    if _macros_mark(con, Step(key, "definitions")) != _definition_sha(con, text):
        return False
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT temporary"
        ).fetchall()
    }
    return all((v if "." in v else f"main.{v}") in present for v in views)


def _define_mark(con: duckdb.DuckDBPyConnection, key: str, text: str) -> None:
    _mark_macros(con, Step(key, "definitions"), _definition_sha(con, text))


def define_view(con: duckdb.DuckDBPyConnection, name: str, sql: str, salt: str = "") -> None:
    """CREATE OR REPLACE VIEW `name` AS `sql`, unless the warehouse holds it as `sql` made it
    already. `salt`: what else its columns depend on (the files of the views it reads)."""
    text = f"{salt}\n{name}\n{sql}"
    if not _defined(con, f"view:{name}", text, [name]):
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        _define_mark(con, f"view:{name}", text)


def clear_stage(con: duckdb.DuckDBPyConnection) -> int:
    """Drop every table and view in the `stage` schema (they hold copies of people's data;
    erasure calls this); returns how many were dropped."""
    found = con.execute(
        "SELECT 'VIEW', view_name FROM duckdb_views() WHERE schema_name = ? AND NOT temporary "
        "UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() "
        "WHERE schema_name = ? AND NOT temporary ORDER BY 1 DESC, 2",
        [STAGE, STAGE],
    ).fetchall()
    for kind, name in found:
        con.execute(f'DROP {kind} IF EXISTS {STAGE}."{name}"')
    return len(found)


def header(path: Path) -> dict[str, tuple[str, ...]]:
    """The declaration at the top of a step file: `-- key: a, b` lines (`-` for none),
    continued on lines that start with `--` and four or more spaces."""
    found: dict[str, list[str]] = {}
    key = None
    for line in path.read_text().splitlines():
        keyed = re.match(r"--\s*(\w+):\s*(.*)$", line)
        if keyed and keyed.group(1) in HEADER_KEYS:
            key = keyed.group(1)
            found[key] = list(_names(keyed.group(2)))
        elif key and re.match(r"--\s{4,}\S", line):
            found[key].extend(_names(line[2:]))
        else:
            break
    return {k: tuple(v) for k, v in found.items()}


def header_text(step: Step, width: int = 92) -> str:
    """The header a step's file should start with (wrapped at `width`)."""
    lines = [f"-- step: {step.name}"]
    for key in HEADER_KEYS[1:]:
        items = list(getattr(step, key)) or ["-"]
        line = f"-- {key}:"
        for i, item in enumerate(items):
            piece = f" {item}" + ("," if i < len(items) - 1 else "")
            if len(line) + len(piece) > width:
                lines.append(line)
                line = "--    "
            line += piece
        lines.append(line)
    return "\n".join(lines)


def group_steps() -> dict[str, list[str]]:
    """Asset (or operation) name -> its steps, in order."""
    groups: dict[str, list[str]] = {}
    for step in STEPS:
        groups.setdefault(step.group, []).append(step.name)
    return groups
