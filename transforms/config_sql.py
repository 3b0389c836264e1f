"""Config SQL (rung and list rules, `group_by`, `order_by`) run where it can reach nothing
but the rows it is given: a separate in-memory DuckDB connection that may not read or write
files, load extensions or change its own settings. The warehouse connection hands it the
columns a rule needs as Arrow and stores what comes back with set-based SQL.

Errors from the data (a failed cast, say) can quote a person's value, so a run-time failure
is reported by its kind only; messages are passed on only when the rows were empty."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import duckdb
import pyarrow as pa

# Locked, so no expression can turn them back on (`SET` is not an expression anyway).
SANDBOX_SETTINGS = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}
# What a DuckDB error class means, in words a config author can act on.
ERROR_KINDS = {
    "ConversionException": "a value could not be converted to the type the rule asks for",
    "OutOfRangeException": "a value is out of range for its type",
    "InvalidInputException": "a function was given input it cannot use",
    "TypeMismatchException": "two values of different types were compared or combined",
    "PermissionException": "it tries to read or write a file, or load an extension, "
    "which rules may not do",
    "IOException": "it tries to read or write a file, which rules may not do",
    "OutOfMemoryException": "it ran out of memory",
    "BinderException": "it names a column or function that does not exist here",
    "CatalogException": "it names a table or function that does not exist here",
    "ParserException": "it is not valid SQL",
    "NotImplementedException": "it uses something DuckDB does not support",
}


class SandboxError(RuntimeError):
    """Config SQL could not be evaluated; the message holds no value from the data."""


def error_kind(exc: BaseException) -> str:
    """The kind of a DuckDB error in words, never its message (which can quote values)."""
    name = type(exc).__name__
    return f"{ERROR_KINDS.get(name, 'DuckDB refused it')} ({name})"


def first_line(exc: BaseException) -> str:
    """A bind-time error's first line: only safe where the rows were empty."""
    return str(exc).split("\n")[0]


def connect_sandbox(
    threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with no file, network or extension access."""
    settings: dict[str, object] = dict(SANDBOX_SETTINGS)
    if threads:
        settings["threads"] = int(threads)
    if memory_limit:
        settings["memory_limit"] = memory_limit
    return duckdb.connect(":memory:", config=settings)


# --------------------------------------------------------------------- shape at config load


_PARSERS = threading.local()


def _parser() -> duckdb.DuckDBPyConnection:
    """One sandboxed connection per thread for parsing: opening one costs ~50 ms."""
    if getattr(_PARSERS, "con", None) is None:
        _PARSERS.con = connect_sandbox(threads=1)
    return _PARSERS.con


# The same rules are parsed many times a run (each list's checks, each step reading them),
# ~3 ms each: a tree is kept per text. Callers only read it.
@functools.lru_cache(maxsize=4096)
def _parse_tree(sql: str) -> dict | None:
    """DuckDB's parse tree of one SELECT (parsed, never run), or None when it does not
    parse."""
    parser = _parser()
    try:
        if len(parser.extract_statements(sql)) != 1:
            return {"statements": [None, None]}
        text = parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
    except duckdb.Error:
        return None
    tree = json.loads(text)
    return None if tree.get("error") else tree


def shape_problem(text: str, kind: str = "expression") -> str | None:
    """Why `text` is not one SQL expression (or, for kind 'order', one ORDER BY list), or
    None. Syntax errors are left to validation, which names them against the rows."""
    if ";" in text:
        return "must be one SQL expression, without ';'"
    # Newlines, so a trailing `--` comment cannot swallow what follows.
    sql = f"SELECT (\n{text}\n) AS __x" if kind == "expression" else f"SELECT 1 ORDER BY {text}\n"
    tree = _parse_tree(sql)
    if tree is None:
        return None
    statements = tree.get("statements") or []
    node = (statements[0] or {}).get("node", {}) if len(statements) == 1 else {}
    modifiers = [m.get("type") for m in node.get("modifiers", [])]
    one_select = (
        node.get("type") == "SELECT_NODE"
        and len(node.get("select_list", [])) == 1
        and (node.get("from_table") or {}).get("type") == "EMPTY"
        and node.get("where_clause") is None
        and not node.get("group_expressions")
        and node.get("having") is None
        and node.get("qualify") is None
        and not (node.get("cte_map") or {}).get("map")
        and modifiers == ([] if kind == "expression" else ["ORDER_MODIFIER"])
    )
    if one_select:
        return None
    return "must be one SQL expression, not a statement or more than one clause"


# ------------------------------------------------------------------ which columns are read


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def referenced_columns(expressions: Iterable[str], available: list[str]) -> list[str]:
    """The columns of `available` the expressions may read, in table order; all of them
    when an expression reads `*` or a column by position, or does not parse."""
    wanted: set[str] = set()
    for expression in expressions:
        tree = _parse_tree(f"SELECT 1 ORDER BY {expression}\n") or _parse_tree(
            f"SELECT (\n{expression}\n) AS __x"
        )
        if tree is None:
            return list(available)
        for node in _walk(tree):
            if node.get("class") == "STAR" or node.get("type") == "POSITIONAL_REFERENCE":
                return list(available)
            if node.get("class") == "COLUMN_REF" and node.get("column_names"):
                wanted.add(str(node["column_names"][-1]).lower())
    return [c for c in available if c.lower() in wanted]


# ---------------------------------------------------------------------------- the sandbox


class ConfigSandbox:
    """A sandbox connection that sees one relation of the warehouse under the same name:
    first its shape with no rows (to check rules), then the columns rules read."""

    def __init__(self, con: duckdb.DuckDBPyConnection, relation: str) -> None:
        self.warehouse = con
        self.relation = relation
        self.columns = [row[0] for row in con.execute(f"DESCRIBE {relation}").fetchall()]
        threads, memory = con.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit')"
        ).fetchall()[0]
        self.con = connect_sandbox(threads, memory)
        self._feed(self.columns, limit=0)

    def _feed(self, columns: list[str], limit: int | None = None) -> None:
        listed = ", ".join(f'"{c}"' for c in columns)
        sql = f"SELECT {listed} FROM {self.relation}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # One Arrow table, scanned by the sandbox without a copy.
        self.con.register(self.relation, self.warehouse.sql(sql).to_arrow_table())

    def load_rows(self, expressions: Iterable[str], keep: Iterable[str] = ()) -> None:
        """Replace the empty shape with the rows: only the columns the expressions read,
        plus `keep` (person_id and the columns written out)."""
        needed = set(referenced_columns(expressions, self.columns)) | set(keep)
        self._feed([c for c in self.columns if c in needed])

    def add(self, name: str, table: pa.Table) -> None:
        """Make `table` readable in the sandbox as `name` (replacing any before it)."""
        self.con.register(name, table)

    def query(self, sql: str, params: dict | None = None) -> pa.Table:
        """Run one SELECT in the sandbox; DuckDB errors propagate to the caller."""
        return self.con.sql(sql, params=params or None).to_arrow_table()

    def check(self, sql: str) -> None:
        """Run a query for its errors only (used to find which rule failed)."""
        self.con.execute(sql).fetchall()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ConfigSandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextmanager
def registered(
    con: duckdb.DuckDBPyConnection, name: str, table: pa.Table
) -> Iterator[duckdb.DuckDBPyConnection]:
    """`table` readable as `name` on the warehouse connection for the block's duration."""
    con.register(name, table)
    try:
        yield con
    finally:
        con.unregister(name)
