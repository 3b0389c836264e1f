"""The organiser portal under load. Builds a warehouse of the sandbox organisation (landed
raw and built through every step, as bench/warehouse_build.py does) with teams from a
generated teams.yaml, publishes the portal's snapshot (timed), serves the portal with
uvicorn on loopback in a process of its own, signs in one organiser per team (up to 50,
accounts made through portal.auth directly, signed in over HTTP), and drives that many
concurrent clients (threads with requests.Session) through team homes, list pages, person
pages and CSV and XLSX downloads. Prints p50/p95/p99 latency per page kind, downloads per
second, the time of a 10,000-row XLSX and the snapshot's publish time.

    python bench/portal.py [--people 300000] [--clients 50] [--seconds 60] [--think 1.0]
                           [--seed 42] [--workdir DIR] [--keep]

`--think` is each client's pause between pages (a person reading the page); 0 drives the
server as hard as the clients can."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/, whose names would shadow ours

import requests  # noqa: E402

from bench.portal_support import build_warehouse  # noqa: E402

PASSWORD = "bench portal password 2026"
KINDS = ("team_home", "list_page", "person_page", "download_csv", "download_xlsx")
# How often each kind is asked for: mostly browsing, some downloads.
WEIGHTS = (30, 30, 25, 8, 7)
XLSX_ROWS = 10_000


def say(message: str) -> None:
    print(message, flush=True)


# ----------------------------------------------------------------------- the server process


def serve(store: str, teams: str, snapshot: str, port: str) -> int:
    """The portal on 127.0.0.1:`port` over `snapshot` (the child process's whole job)."""
    import uvicorn

    from portal.app import create_app
    from portal.settings import PortalSettings

    app = create_app(PortalSettings(PORTAL_DB=store), teams_file=teams, snapshot=snapshot)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: Path, teams: Path, snapshot: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    child = subprocess.Popen(
        [
            *(sys.executable, str(Path(__file__).resolve()), "--serve"),
            *(str(store), str(teams), str(snapshot), str(port)),
        ],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/sign-in", timeout=2)
            return child, url
        except requests.ConnectionError:
            if child.poll() is not None:
                raise RuntimeError("the portal server did not start") from None
            time.sleep(0.2)
    child.terminate()
    raise RuntimeError("the portal server did not answer within 60 s")


# ------------------------------------------------------------------------ accounts, sign-in


def organisers(teams_file: Path, clients: int) -> list[tuple[str, str]]:
    """(email, team) of the first organiser of each team, as many as `clients`."""
    import yaml

    declared = yaml.safe_load(teams_file.read_text(encoding="utf-8"))["teams"]
    found = [(t["organisers"][0], t["name"]) for t in declared if t.get("organisers")]
    return found[:clients]


def make_accounts(store: Path, teams_file: Path, people: list[tuple[str, str]]) -> None:
    """Invite each organiser and set their password, through portal.auth directly."""
    from portal.app import build_auth
    from portal.settings import PortalSettings

    auth = build_auth(PortalSettings(PORTAL_DB=str(store)), teams_file=teams_file)
    for email, _ in people:
        link = auth.invite(email)
        state, problem = auth.accept(link.rsplit("/", 1)[1], PASSWORD)
        if problem or state != "ok":
            raise RuntimeError(f"could not set a password for a bench account: {problem}")


def sign_in(url: str, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(url + "/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        url + "/sign-in",
        data={"csrf_token": token, "email": email, "password": PASSWORD, "next": "/"},
        allow_redirects=False,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in failed with {answer.status_code}")
    return session


# --------------------------------------------------------------------------- the workload


@dataclass
class Plan:
    """What one client may ask for: its team's lists and some of its people."""

    team: str
    lists: list[str]
    people: list[str]


def plans(snapshot: Path, teams: list[str]) -> dict[str, Plan]:
    import duckdb

    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        lists = [r[0] for r in con.execute("SELECT list_name FROM lists").fetchall()]
        found = {}
        for team in teams:
            people = [
                r[0]
                for r in con.execute(
                    "SELECT person_id FROM team_members WHERE team = ? USING SAMPLE 200 ROWS",
                    [team],
                ).fetchall()
            ]
            found[team] = Plan(team, lists, people)
    finally:
        con.close()
    return found


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            if status == 200:
                self.latencies[kind].append(seconds)
            else:
                self.errors[f"{kind} {status}"] = self.errors.get(f"{kind} {status}", 0) + 1


def path_for(kind: str, plan: Plan, rng: random.Random) -> str:
    team = "/teams/" + quote(plan.team, safe="")
    if kind == "team_home":
        return team
    name = rng.choice(plan.lists)
    if kind == "list_page":
        return f"{team}/lists/{name}"
    if kind == "download_csv":
        return f"{team}/lists/{name}.csv"
    if kind == "download_xlsx":
        return f"{team}/lists/{name}.xlsx"
    return "/people/" + quote(rng.choice(plan.people), safe="")


def client(
    url: str,
    session: requests.Session,
    plan: Plan,
    until: float,
    think: float,
    results: Results,
    seed: int,
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if kind == "person_page" and not plan.people:
            kind = "team_home"
        started = time.perf_counter()
        answer = session.get(url + path_for(kind, plan, rng))
        _ = answer.content
        results.add(kind, time.perf_counter() - started, answer.status_code)
        if think:
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


# ------------------------------------------------------------------------ the XLSX timing


def portal_xlsx_seconds(name: str, columns: list[str], rows: list[list]) -> float:
    """A download's XLSX the portal's way (rows rendered in DuckDB, then zipped), from a
    snapshot-shaped table of `rows`: the query and the workbook, timed."""
    import duckdb

    from transforms.exports import write_xlsx_rendered, xlsx_rows_sql

    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE list_rows (position BIGINT, cells VARCHAR[])")
        con.executemany("INSERT INTO list_rows VALUES (?, ?)", list(enumerate(rows)))
        started = time.perf_counter()
        rendered = [
            r[0]
            for r in con.execute(
                f"SELECT {xlsx_rows_sql('cells', 'n', len(columns))} FROM (SELECT cells, "
                "row_number() OVER (ORDER BY position) + 1 AS n FROM list_rows) ORDER BY n"
            ).fetchall()
        ]
        write_xlsx_rendered(io.BytesIO(), name, columns, rendered)
        return time.perf_counter() - started
    finally:
        con.close()


def xlsx_timing(snapshot: Path, url: str, session_for: dict[str, requests.Session]) -> dict:
    """A 10,000-row XLSX: written by the portal's own writer from the largest list's rows,
    and the largest team list of at least that many rows downloaded over HTTP."""
    import duckdb

    from transforms.exports import write_xlsx

    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        largest = con.execute(
            "SELECT l.list_name, l.columns FROM lists l JOIN list_rows r USING (list_name) "
            "GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        if largest is None:
            return {"rows": 0, "columns": 0, "write_seconds": 0.0, "portal_seconds": 0.0}
        name, columns = largest
        rows = [
            r[0]
            for r in con.execute(
                "SELECT cells FROM list_rows WHERE list_name = ? ORDER BY team, position LIMIT ?",
                [name, XLSX_ROWS],
            ).fetchall()
        ]
        biggest = con.execute(
            "SELECT team, list_name, rows FROM list_sizes WHERE list_contains(?, team) "
            "ORDER BY rows DESC LIMIT 1",
            [list(session_for)],
        ).fetchone()
    finally:
        con.close()
    while rows and len(rows) < XLSX_ROWS:
        rows = (rows * 2)[:XLSX_ROWS]
    started = time.perf_counter()
    out = io.BytesIO()
    write_xlsx(out, name, list(columns), rows)
    written = time.perf_counter() - started
    result = {
        "rows": len(rows),
        "columns": len(columns),
        "write_seconds": written,
        "portal_seconds": portal_xlsx_seconds(name, list(columns), rows),
    }
    if biggest:
        team, list_name, count = biggest
        path = f"/teams/{quote(team, safe='')}/lists/{list_name}.xlsx"
        started = time.perf_counter()
        answer = session_for[team].get(url + path)
        result["http"] = {
            "rows": count,
            "seconds": time.perf_counter() - started,
            "status": answer.status_code,
            "bytes": len(answer.content),
        }
    return result


# ------------------------------------------------------------------------------- the run


def publish_timed(
    warehouse: Path, snapshot: Path, now, ladder: Path = ROOT / "ladder.yaml"
) -> tuple[float, float, dict]:
    """(portal_lists seconds, publish seconds, counts) as the portal_snapshot asset runs
    them, in this process, DuckDB on 2 threads."""
    from transforms import steps
    from transforms.ladder_config import load
    from transforms.portal_lists import build_portal_lists
    from warehouse.connection import connect
    from warehouse.snapshot import publish

    con = connect(warehouse)
    try:
        con.execute("SET threads = 2")
        started = time.perf_counter()
        build_portal_lists(con, load(ladder), now)
        lists_seconds = time.perf_counter() - started
        steps.require(con, "portal_snapshot")
        started = time.perf_counter()
        counts = publish(con, snapshot, now)
        publish_seconds = time.perf_counter() - started
    finally:
        con.close()
    return lists_seconds, publish_seconds, counts


def publish_scaled(built, workdir: Path, people: int) -> dict:
    """The snapshot of a copy of the warehouse with every person copied up to `people`."""
    from bench.portal_support import scale_people
    from warehouse.connection import connect

    scaled = workdir / "scaled.duckdb"
    shutil.copyfile(built.warehouse, scaled)
    con = connect(scaled)
    try:
        started = time.perf_counter()
        have = scale_people(con, people)
        con.execute("CHECKPOINT")
        say(f"  scaled to {have:,} people in {time.perf_counter() - started:.1f} s")
    finally:
        con.close()
    lists_s, publish_s, counts = publish_timed(
        scaled, workdir / "scaled-snapshot.duckdb", built.now
    )
    say(
        f"Snapshot at {have:,} people (the organisation copied): portal lists staged in "
        f"{lists_s:.2f} s, published in {publish_s:.2f} s ({counts['people']:,} people in "
        f"teams, {counts['list_rows']:,} list rows, {counts['activities']:,} activities, "
        f"{counts['bytes'] / 1e6:,.0f} MB)"
    )
    return {"people": have, "portal_lists_seconds": lists_s, "publish_seconds": publish_s}


def reused(folder: Path):
    """The warehouse and teams file an earlier `--keep` run left in `folder`."""
    import duckdb

    from bench.portal_support import Built

    con = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
    try:
        now = con.execute("SELECT max(computed_at) FROM ladder").fetchone()[0]
        people = con.execute("SELECT count(*) FROM people").fetchone()[0]
    finally:
        con.close()
    return Built(folder / "warehouse.duckdb", folder / "teams.yaml", now, people)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients browse")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between pages")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, help="where the files go (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--reuse", type=Path, help="a folder an earlier --keep run left: skip the build"
    )
    parser.add_argument(
        "--publish-at",
        type=int,
        help="then copy every person until there are this many and time the snapshot again",
    )
    args = parser.parse_args()

    workdir = args.reuse or Path(tempfile.mkdtemp(prefix="gs-portal-", dir=args.workdir))
    child = None
    try:
        if args.reuse:
            built = reused(args.reuse)
            say(f"Portal benchmark: the warehouse in {args.reuse} ({built.people:,} people)")
        else:
            say(f"Portal benchmark: {args.people:,} people (seed {args.seed})")
            built = build_warehouse(args.people, workdir, args.seed, teams=args.clients, log=say)
        snapshot = workdir / "portal" / "snapshot.duckdb"
        lists_s, publish_s, counts = publish_timed(built.warehouse, snapshot, built.now)
        say(
            f"  snapshot: portal lists staged in {lists_s:.2f} s, published in {publish_s:.2f} s "
            f"({counts['people']:,} people in {counts['teams']} teams, "
            f"{counts['list_rows']:,} list rows, {counts['activities']:,} activities, "
            f"{counts['bytes'] / 1e6:,.0f} MB)"
        )
        store = workdir / "portal" / "portal.db"
        for leftover in store.parent.glob("portal.db*"):  # accounts of an earlier run
            leftover.unlink()
        accounts = organisers(built.teams_file, args.clients)
        started = time.perf_counter()
        make_accounts(store, built.teams_file, accounts)
        child, url = start_server(store, built.teams_file, snapshot)
        sessions = {}
        for email, team in accounts:
            sessions[team] = sign_in(url, email)
        say(f"  {len(sessions)} organisers signed in ({time.perf_counter() - started:.1f} s)")
        plan_of = plans(snapshot, list(sessions))
        results = Results()
        until = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=client,
                args=(url, sessions[team], plan_of[team], until, args.think, results, i),
            )
            for i, team in enumerate(sessions)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        xlsx = xlsx_timing(snapshot, url, sessions)
        figures = report(args, built.people, counts, lists_s, publish_s, results, elapsed, xlsx)
        if args.publish_at:
            figures["scaled"] = publish_scaled(built, workdir, args.publish_at)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
        if args.keep or args.reuse:
            say(f"Files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def report(args, people, counts, lists_s, publish_s, results, elapsed, xlsx) -> dict:
    print()
    print(f"{'page':<14} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    print(f"{'-' * 14} {'-' * 9} {'-' * 8} {'-' * 8} {'-' * 8}")
    figures: dict = {"people": people, "clients": args.clients, "think": args.think, "pages": {}}
    for kind in KINDS:
        values = results.latencies[kind]
        p50, p95, p99 = (percentile(values, s) * 1000 for s in (0.5, 0.95, 0.99))
        figures["pages"][kind] = {"requests": len(values), "p50": p50, "p95": p95, "p99": p99}
        print(f"{kind:<14} {len(values):>9,} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")
    downloads = len(results.latencies["download_csv"]) + len(results.latencies["download_xlsx"])
    total = sum(len(v) for v in results.latencies.values())
    figures.update(
        {
            "seconds": elapsed,
            "requests_per_second": total / elapsed,
            "downloads_per_second": downloads / elapsed,
            "errors": results.errors,
            "xlsx": xlsx,
            "portal_lists_seconds": lists_s,
            "publish_seconds": publish_s,
            "snapshot": counts,
        }
    )
    print()
    print(
        f"{total:,} pages in {elapsed:.1f} s ({total / elapsed:.1f} a second) from "
        f"{args.clients} clients pausing ~{args.think:g} s between pages; "
        f"downloads: {downloads / elapsed:.2f} a second; errors: {results.errors or 'none'}"
    )
    line = f"XLSX of {xlsx['rows']:,} rows x {xlsx['columns']} columns: "
    line += f"{xlsx.get('portal_seconds', 0):.2f} s the portal's way (rendered in DuckDB), "
    line += f"{xlsx['write_seconds']:.2f} s by the Python writer"
    if "http" in xlsx:
        http = xlsx["http"]
        line += (
            f"; the largest team list ({http['rows']:,} rows) downloaded as XLSX in "
            f"{http['seconds']:.2f} s ({http['bytes'] / 1e6:.1f} MB)"
        )
    print(line)
    print(
        f"Snapshot: {counts['people']:,} people of {people:,} in {counts['teams']} teams; "
        f"portal lists staged in {lists_s:.2f} s, published in {publish_s:.2f} s, "
        f"{counts['bytes'] / 1e6:,.0f} MB"
    )
    print(f"Machine: {os.cpu_count()} cores; the server is one uvicorn process.")
    return figures


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        sys.exit(serve(*sys.argv[2:]))
    sys.exit(main())
