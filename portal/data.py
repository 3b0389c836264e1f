"""Read-only queries over the published snapshot (warehouse/snapshot.py). Every query takes
the teams the signed-in user may see and filters on them in SQL, on the server: a team,
list or person outside them is simply not found. Values reach SQL only as parameters.

The snapshot file is swapped whole by each run (`os.replace`). A generation is one
in-memory DuckDB database with the file ATTACHed read-only (a fresh instance each time:
DuckDB caches a database by path, which would keep serving the replaced file); a request
takes a cursor of the newest generation, and a generation stays open for a while after
it is replaced, so a request that began on it finishes on it."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from portal.outcomes import EXTRA_COLUMNS
from transforms.exports import xlsx_rows_sql
from warehouse.snapshot import TIMELINE_LIMIT

ALIAS = "snap"
# A replaced generation stays open this long for requests that began on it.
RETIRE_AFTER_SECONDS = 120.0
PAGE_SIZE = 100
SEARCH_LIMIT = 50
# Answers kept per snapshot generation (team figures, list pages, people, downloads).
CACHE_SIZE = 4096
NEVER = "never: no snapshot has been published yet (run the pipeline: make run)"
CHANNELS = ("email", "phone", "post", "door")


class SnapshotMissing(RuntimeError):
    """No snapshot has been published at the path yet."""


@dataclass
class _Generation:
    con: duckdb.DuckDBPyConnection
    key: tuple[int, int, int]
    refreshed_at: str
    retired_at: float | None = None
    # Answers of this file, which never changes: a swap starts a new generation (and cache).
    cache: OrderedDict = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remembered(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`'s answer for `key`, kept for the next asker (the newest CACHE_SIZE)."""
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        value = compute()
        with self.lock:
            self.cache[key] = value
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)
        return value


class Snapshot:
    """The snapshot at `path`, reopened when a run swaps in a new file; thread-safe (each
    caller gets its own cursor)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._current: _Generation | None = None
        self._retired: list[_Generation] = []

    def _key(self) -> tuple[int, int, int]:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise SnapshotMissing(str(self.path)) from None
        return (found.st_ino, found.st_mtime_ns, found.st_size)

    def _open(self, key: tuple[int, int, int]) -> _Generation:
        con = duckdb.connect(":memory:")
        literal = "'" + str(self.path).replace("'", "''") + "'"
        try:
            con.execute(f"ATTACH {literal} AS {ALIAS} (READ_ONLY)")
            row = con.execute(
                f"SELECT value FROM {ALIAS}.meta WHERE key = 'refreshed_at'"
            ).fetchone()
        except duckdb.IOException:
            con.close()
            raise SnapshotMissing(str(self.path)) from None
        return _Generation(con, key, row[0] if row else "unknown")

    def generation(self) -> _Generation:
        """The newest generation, opening the file again if it was swapped."""
        key = self._key()
        current = self._current
        if current is not None and current.key == key:
            return current
        with self._lock:
            current = self._current
            if current is not None and current.key == key:
                return current
            fresh = self._open(key)
            now = time.monotonic()
            if current is not None:
                current.retired_at = now
                self._retired.append(current)
            keep = []
            for old in self._retired:
                if now - (old.retired_at or now) > RETIRE_AFTER_SECONDS:
                    old.con.close()
                else:
                    keep.append(old)
            self._retired = keep
            self._current = fresh
            return fresh

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the newest generation, closed after the block."""
        cur = self.generation().con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def remembered(self, key: tuple, compute: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """An answer of the newest generation, computed once with a cursor of it; each
        caller gets its own copy to change."""
        generation = self.generation()

        def run() -> Any:
            cur = generation.con.cursor()
            try:
                return compute(cur)
            finally:
                cur.close()

        return _copy(generation.remembered(key, run))

    def refreshed_at(self) -> str:
        try:
            return self.generation().refreshed_at
        except SnapshotMissing:
            return NEVER

    def close(self) -> None:
        with self._lock:
            for gen in [*self._retired, *([self._current] if self._current else [])]:
                gen.con.close()
            self._retired, self._current = [], None


_OPEN: dict[Path, Snapshot] = {}
_OPEN_LOCK = threading.Lock()


def snapshot(path: str | Path) -> Snapshot:
    """The process's one Snapshot for `path`."""
    key = Path(path).resolve()
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = Snapshot(key)
        return _OPEN[key]


def refreshed_at(path: str | Path) -> str:
    """When the snapshot at `path` was published, e.g. `2026-11-30 21:10 UTC`, or a
    sentence saying none has been."""
    return snapshot(path).refreshed_at()


# ------------------------------------------------------------------------------ queries


def _rows(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence) -> list[dict]:
    result = cur.execute(sql.replace("{s}", ALIAS), list(params))
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _sees(visible: Sequence[str] | None, team_name: str) -> bool:
    return visible is None or team_name in visible


def teams(snap: Snapshot, visible: Sequence[str] | None) -> list[dict]:
    """The teams the user may see (None: every team, for HQ), with their people."""
    every = snap.remembered(
        ("teams",),
        lambda cur: _rows(cur, "SELECT team, description, people FROM {s}.teams ORDER BY team", []),
    )
    return [t for t in every if _sees(visible, t["team"])]


def _team_home(cur: duckdb.DuckDBPyConnection, name: str) -> dict | None:
    found = _rows(cur, "SELECT team, description, people FROM {s}.teams WHERE team = ?", [name])
    if not found:
        return None
    rungs = _rows(
        cur,
        "SELECT rung, people FROM {s}.team_rungs WHERE team = ? ORDER BY tier_rank",
        [name],
    )
    movement = _rows(
        cur,
        "SELECT period, baseline_at, moved_up, moved_down, stayed, arrived "
        "FROM {s}.team_movement WHERE team = ? ORDER BY period DESC",
        [name],
    )
    lists = _rows(
        cur,
        "SELECT s.list_name, l.description, l.channel, s.rows FROM {s}.list_sizes s "
        "JOIN {s}.lists l USING (list_name) WHERE s.team = ? ORDER BY s.position",
        [name],
    )
    return {**found[0], "rungs": rungs, "movement": movement, "lists": lists}


def team_home(snap: Snapshot, visible: Sequence[str] | None, name: str) -> dict | None:
    """A team's figures: people per rung, movement over 7 and 30 days, its lists with their
    sizes; None when the user may not see it or it does not exist."""
    if not _sees(visible, name):
        return None
    return snap.remembered(("team_home", name), lambda cur: _team_home(cur, name))


# ------------------------------------------------------------------ which asks work

CONVERSION_PERIODS = ("90d", "30d")
_CONVERSION = (
    "entered, reached, succeeded, conversion_rate, median_days_to_success, in_window, "
    "baseline_people, baseline_succeeded, baseline_rate"
)


def _has(cur: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the snapshot holds `table` (one published before it was added does not)."""
    return bool(
        cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
            [ALIAS, table],
        ).fetchone()[0]
    )


def _measured(cur: duckdb.DuckDBPyConnection, period: str) -> datetime | None:
    """When the lists were last measured for `period`; None when never (no figures)."""
    if not _has(cur, "ask_conversion"):
        return None
    return cur.execute(
        f"SELECT max(computed_at) FROM {ALIAS}.ask_conversion WHERE period = ?", [period]
    ).fetchone()[0]


def _conversion(cur: duckdb.DuckDBPyConnection, team: str | None, period: str) -> dict:
    measured = _measured(cur, period)
    if measured is None:
        return {"measured_at": None, "lists": []}
    # Every list of the configuration, with this team's (or the organisation's) figures: a
    # list without a row had nobody join it.
    where = "team IS NULL" if team is None else "team = ?"
    lists = _rows(
        cur,
        f"""
        WITH mine AS (
            SELECT * FROM {{s}}.ask_conversion WHERE period = ? AND {where}
        )
        SELECT coalesce(c.list_name, l.list_name) AS list_name, l.next_ask AS ask,
               coalesce(c.entered, 0) AS entered, coalesce(c.reached, 0) AS reached,
               coalesce(c.succeeded, 0) AS succeeded, c.conversion_rate,
               c.median_days_to_success, coalesce(c.in_window, 0) AS in_window,
               coalesce(c.baseline_people, 0) AS baseline_people,
               coalesce(c.baseline_succeeded, 0) AS baseline_succeeded, c.baseline_rate
        FROM mine c FULL JOIN {{s}}.lists l ON l.list_name = c.list_name
        ORDER BY l.position NULLS LAST, 1
        """,
        [period] + ([] if team is None else [team]),
    )
    return {"measured_at": measured, "lists": lists}


def conversion(
    snap: Snapshot, visible: Sequence[str] | None, team_name: str, period: str = "90d"
) -> dict | None:
    """Which asks work in a team: per list, of the people who joined it in `period`, how
    many were reached and did what it asks, beside people of the same rung not on it
    (`lists`; empty with `measured_at` None before any run measured them); None when the
    user may not see the team. Reads the team's own rows only."""
    if not _sees(visible, team_name) or period not in CONVERSION_PERIODS:
        return None
    return snap.remembered(
        ("conversion", team_name, period), lambda cur: _conversion(cur, team_name, period)
    )


def organisation_conversion(
    snap: Snapshot, visible: Sequence[str] | None, period: str = "90d"
) -> dict | None:
    """`conversion` for the whole organisation (every team and nobody's): HQ only, None for
    anyone else."""
    if visible is not None or period not in CONVERSION_PERIODS:
        return None
    return snap.remembered(("conversion", None, period), lambda cur: _conversion(cur, None, period))


def _conversion_by_team(
    cur: duckdb.DuckDBPyConnection, visible: tuple[str, ...] | None, period: str
) -> list[dict]:
    if _measured(cur, period) is None:
        return []
    teams_filter = "" if visible is None else "AND list_contains(?, c.team)"
    rows = _rows(
        cur,
        f"""
        SELECT c.list_name, c.team, {_CONVERSION}
        FROM {{s}}.ask_conversion c LEFT JOIN {{s}}.lists l USING (list_name)
        WHERE c.period = ? AND c.team IS NOT NULL {teams_filter}
        ORDER BY l.position NULLS LAST, c.list_name, c.team
        """,
        [period] + ([] if visible is None else [list(visible)]),
    )
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["list_name"], []).append(row)
    return [{"list_name": name, "teams": teams} for name, teams in grouped.items()]


def conversion_by_team(
    snap: Snapshot, visible: Sequence[str] | None, period: str = "90d"
) -> list[dict]:
    """Per list (in the configuration's order), the figures for `period` of each team the
    user sees (`teams`), filtered in SQL."""
    if period not in CONVERSION_PERIODS:
        return []
    seen = None if visible is None else tuple(sorted(visible))
    return snap.remembered(
        ("conversion_by_team", seen, period), lambda cur: _conversion_by_team(cur, seen, period)
    )


def list_info(
    snap: Snapshot, visible: Sequence[str] | None, team_name: str, list_name: str
) -> dict | None:
    """A list as the team sees it (description, channel, columns, its size in the team)."""
    if not _sees(visible, team_name):
        return None

    def compute(cur: duckdb.DuckDBPyConnection) -> dict | None:
        found = _rows(
            cur,
            "SELECT l.list_name, l.description, l.channel, l.columns, l.next_ask, s.rows "
            "FROM {s}.lists l JOIN {s}.list_sizes s USING (list_name) "
            "WHERE l.list_name = ? AND s.team = ?",
            [list_name, team_name],
        )
        return found[0] if found else None

    return snap.remembered(("list_info", team_name, list_name), compute)


def list_members(
    snap: Snapshot,
    visible: Sequence[str] | None,
    team_name: str,
    list_name: str,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> list[dict]:
    """One page of the team's part of a list, in the list's order: each person's name,
    rung, reason, the next ask (the list's own, else their rung's), the channels their
    consent allows and their last action."""
    if not _sees(visible, team_name):
        return []
    page = max(page, 1)

    def compute(cur: duckdb.DuckDBPyConnection) -> list[dict]:
        rows = _rows(
            cur,
            """
            WITH page AS (
                -- list_rows carries the page's columns (warehouse/snapshot.py).
                SELECT * FROM {s}.list_rows
                WHERE list_name = ? AND team = ?
                ORDER BY position LIMIT ? OFFSET ?
            )
            SELECT r.person_id, r.given_name, r.family_name, r.tier, r.reason,
                   coalesce(l.next_ask, g.next_ask) AS next_ask,
                   r.email_ok, r.phone_ok, r.post_ok, r.door_ok, r.last_action_at
            FROM page r
            CROSS JOIN (SELECT next_ask FROM {s}.lists WHERE list_name = ?) l
            LEFT JOIN {s}.rungs g ON g.rung = r.tier
            ORDER BY r.position
            """,
            [list_name, team_name, size, (page - 1) * size, list_name],
        )
        for row in rows:
            row["channels"] = _channels(row)
        return rows

    return snap.remembered(("list_members", team_name, list_name, page, size), compute)


def _list_columns(cur: duckdb.DuckDBPyConnection, team_name: str, list_name: str) -> list | None:
    """The list's own download columns, or None when the team has no such list."""
    found = cur.execute(
        f"SELECT l.columns FROM {ALIAS}.lists l JOIN {ALIAS}.list_sizes s "
        "USING (list_name) WHERE l.list_name = ? AND s.team = ?",
        [list_name, team_name],
    ).fetchone()
    return None if found is None else list(found[0])


def download_rows(
    snap: Snapshot, visible: Sequence[str] | None, team_name: str, list_name: str
) -> tuple[list[str], list[list]] | None:
    """The header and rows of the team's part of a list's download, exactly as the exports
    wrote them (neutralised, consent-filtered), then the outcome columns to fill in
    (`outcome_columns`); None when not visible or no such list."""
    if not _sees(visible, team_name):
        return None

    def compute(cur: duckdb.DuckDBPyConnection) -> tuple[list[str], list[list]] | None:
        columns = _list_columns(cur, team_name, list_name)
        if columns is None:
            return None
        rows = cur.execute(
            f"SELECT cells, person_id FROM {ALIAS}.list_rows WHERE list_name = ? AND team = ? "
            "ORDER BY position",
            [list_name, team_name],
        ).fetchall()
        extra = outcome_columns(columns)
        # The person_id (unless the list has it) and empty cells for the outcome to fill in.
        add_id = "person_id" in extra
        blanks = [""] * (len(extra) - add_id)
        return columns + extra, [[*r[0], *([r[1]] if add_id else []), *blanks] for r in rows]

    # Not kept: a download can be large, and is read once.
    with snap.cursor() as cur:
        return compute(cur)


def download_xlsx_rows(
    snap: Snapshot, visible: Sequence[str] | None, team_name: str, list_name: str
) -> tuple[list[str], list[str]] | None:
    """The header and the rows of the team's part of a list as XLSX row XML, rendered in
    DuckDB by the exports' own SQL (transforms/exports.py xlsx_rows_sql), with the outcome
    columns of `download_rows`; None as for `download_rows`."""
    if not _sees(visible, team_name):
        return None
    with snap.cursor() as cur:
        columns = _list_columns(cur, team_name, list_name)
        if columns is None:
            return None
        extra = outcome_columns(columns)
        # The person_id cell (unless the list has it); the outcome columns stay empty.
        cells = "list_append(cells, person_id)" if "person_id" in extra else "cells"
        width = len(columns) + ("person_id" in extra)
        rendered = xlsx_rows_sql("c", "n", width)
        rows = cur.execute(
            f"SELECT {rendered} FROM (SELECT {cells} AS c, row_number() OVER (ORDER BY "
            f"position) + 1 AS n FROM {ALIAS}.list_rows WHERE list_name = ? AND team = ?) "
            "ORDER BY n",
            [list_name, team_name],
        ).fetchall()
    return columns + extra, [r[0] for r in rows]


def outcome_columns(columns: Sequence[str]) -> list[str]:
    """The columns a download appends for outcomes to be filled in: person_id (when the
    list's own columns lack it), outcome, follow_up and note."""
    return [c for c in EXTRA_COLUMNS if c != "person_id" or c not in columns]


def on_list(
    snap: Snapshot, visible: Sequence[str] | None, team_name: str, list_name: str, person_id: str
) -> bool:
    """Whether the person is on the team's part of the list, for a user who sees the team."""
    if not _sees(visible, team_name):
        return False
    with snap.cursor() as cur:
        found = cur.execute(
            f"SELECT 1 FROM {ALIAS}.list_rows WHERE list_name = ? AND team = ? AND person_id = ? "
            "LIMIT 1",
            [list_name, team_name, person_id],
        ).fetchone()
    return found is not None


def placed(
    snap: Snapshot,
    visible: Sequence[str] | None,
    team_name: str,
    list_name: str,
    person_ids: Sequence[str],
) -> tuple[set[str], set[str]] | None:
    """Of these people: those on the team's part of the list, and those in any team the
    user sees; None when the user may not see the team's part of the list (or it does not
    exist)."""
    if list_info(snap, visible, team_name, list_name) is None:
        return None
    ids = sorted(set(person_ids))
    teams_filter = "" if visible is None else "AND list_contains(?, team)"
    with snap.cursor() as cur:
        on = cur.execute(
            f"SELECT DISTINCT person_id FROM {ALIAS}.list_rows WHERE list_name = ? AND team = ? "
            "AND list_contains(?, person_id)",
            [list_name, team_name, ids],
        ).fetchall()
        params: list = [ids] + ([] if visible is None else [list(visible)])
        known = cur.execute(
            f"SELECT DISTINCT person_id FROM {ALIAS}.team_members "
            f"WHERE list_contains(?, person_id) {teams_filter}",
            params,
        ).fetchall()
    return {r[0] for r in on}, {r[0] for r in known}


def _like(text: str) -> str:
    """The search text as a LIKE pattern that matches it literally, anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    snap: Snapshot, visible: Sequence[str] | None, text: str, limit: int = SEARCH_LIMIT
) -> list[dict]:
    """People of the user's teams whose name contains `text` (any case and accents)."""
    words = " ".join(text.split()).lower()
    if not words:
        return []
    teams_filter = "" if visible is None else "AND list_contains(?, m.team)"
    params: list = [_like(words)]
    if visible is not None:
        params.append(list(visible))
    params.append(limit)
    with snap.cursor() as cur:
        return _rows(
            cur,
            f"""
            SELECT p.person_id, p.given_name, p.family_name, p.tier, p.locality,
                   list(DISTINCT m.team ORDER BY m.team) AS teams
            FROM {{s}}.people p JOIN {{s}}.team_members m USING (person_id)
            WHERE p.search_name LIKE strip_accents(?) ESCAPE '\\' {teams_filter}
            GROUP BY ALL
            ORDER BY p.family_name NULLS LAST, p.given_name NULLS LAST, p.person_id
            LIMIT ?
            """,
            params,
        )


def _person(cur: duckdb.DuckDBPyConnection, person_id: str) -> dict | None:
    found = _rows(
        cur,
        "SELECT p.*, g.next_ask FROM {s}.people p LEFT JOIN {s}.rungs g "
        "ON g.rung = p.tier WHERE p.person_id = ?",
        [person_id],
    )
    if not found:
        return None
    record = found[0]
    record.pop("search_name", None)
    record["channels"] = _channels(record)
    record["all_teams"] = [
        r[0]
        for r in cur.execute(
            f"SELECT team FROM {ALIAS}.team_members WHERE person_id = ? ORDER BY team",
            [person_id],
        ).fetchall()
    ]
    record["timeline"] = _rows(
        cur,
        "SELECT occurred_at, source, activity_type, object, channel FROM {s}.activities "
        "WHERE person_id = ? ORDER BY occurred_at DESC NULLS LAST LIMIT ?",
        [person_id, TIMELINE_LIMIT],
    )
    record["history"] = _rows(
        cur,
        "SELECT since, tier FROM {s}.rung_history WHERE person_id = ? ORDER BY since DESC",
        [person_id],
    )
    record["all_lists"] = _rows(
        cur,
        "SELECT list_name, team, reason FROM {s}.person_lists "
        "WHERE person_id = ? ORDER BY list_name, team",
        [person_id],
    )
    return record


def person(snap: Snapshot, visible: Sequence[str] | None, person_id: str) -> dict | None:
    """A person's page (their rung, channels, teams the user sees, lists, activity timeline
    across platforms and rung history), only if they are in one of the user's teams."""
    record = snap.remembered(("person", person_id), lambda cur: _person(cur, person_id))
    if record is None:
        return None
    shown = [t for t in record.pop("all_teams") if _sees(visible, t)]
    if not shown:
        return None
    record["teams"] = shown
    record["lists"] = [row for row in record.pop("all_lists") if row["team"] in shown]
    return record


def _copy(value: Any) -> Any:
    """A copy the caller may change: dicts and lists copied, the values in them shared
    (strings, numbers and times never change)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _channels(row: dict) -> list[str]:
    return [c for c in CHANNELS if row.get(f"{c}_ok")]


def date_text(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""
