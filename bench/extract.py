"""Extraction benchmark: Groundswell's full and incremental pulls at the platforms' limits,
a full pull under 5% injected faults, and the same full pull by Parsons'
ActionNetwork.get_people and Mailchimp.get_members, all against the sandbox platforms
running in their own process. Prints one table.

    python bench/extract.py [--people 20000] [--factor 2] [--skip-parsons]

`--factor F` multiplies the Action Network rate limit and divides both latencies by F, so a
run fits in less time; the ratios the targets speak of hold either way. The default, 2,
keeps a 20,000-person run under 10 minutes (at 1 it reads every Action Network resource
at 4 requests a second: about 14 minutes)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.action_network.client import ActionNetworkClient  # noqa: E402
from connectors.action_network.landing import (  # noqa: E402
    land_action_network_actions,
    land_action_network_people,
    land_action_network_whole,
)
from connectors.mailchimp.client import MailchimpClient  # noqa: E402
from connectors.mailchimp.landing import (  # noqa: E402
    land_mailchimp_audience,
    land_mailchimp_campaigns,
    land_mailchimp_members,
    reconcile_mailchimp_members,
)
from warehouse.connection import connect  # noqa: E402

HEAD_TO_HEAD = 5  # full member pulls each, Groundswell's and Parsons', for the ratio
ACTIONS = ("signatures", "attendances", "submissions", "donations", "outreaches")
HEADER = [
    "tool",
    "pull",
    "requests",
    "wall s",
    "records/s",
    "limit used",
    "429s",
    "retries",
    "landed / truth",
]
FAULTS = {
    "error_rate": 0.03,
    "truncate_rate": 0.01,
    "timeout_rate": 0.01,
    "stall_seconds": 2.0,
    "seed": 7,
}
NO_FAULTS = {"error_rate": 0, "truncate_rate": 0, "timeout_rate": 0}


@dataclass
class Row:
    tool: str
    pull: str
    requests: int
    seconds: float
    records: int
    truth: int
    throttled: int
    retries: int
    limit_used: str

    def cells(self) -> list[str]:
        rate = f"{self.records / self.seconds:,.0f}" if self.seconds else "-"
        return [
            self.tool,
            self.pull,
            f"{self.requests:,}",
            f"{self.seconds:.1f}",
            rate,
            self.limit_used,
            f"{self.throttled:,}",
            f"{self.retries:,}",
            f"{self.records:,} / {self.truth:,}",
        ]


class Platforms:
    """The sandbox in its own process, reached only over HTTP."""

    def __init__(
        self, people: int, seed: int, rate: float, an_latency: float, mc_latency: float
    ) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "serve",
                "--people",
                str(people),
                "--seed",
                str(seed),
                "--an-rate",
                str(rate),
                "--an-latency-ms",
                str(an_latency * 1000),
                "--mc-latency-ms",
                str(mc_latency * 1000),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        self.env: dict[str, str] = {}
        for line in self.process.stdout:
            if line.startswith("# sandbox ready"):
                break
            name, _, value = line.strip().partition("=")
            self.env[name] = value
        self.an = self.env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0] + "/_sandbox"
        self.mc = self.env["MAILCHIMP_BASE_URL"].rsplit("/3.0", 1)[0] + "/_sandbox"

    def counts(self) -> dict[str, int]:
        return requests.get(self.an + "/counts", timeout=60).json()

    def advance(self, days: int) -> dict:
        return requests.post(f"{self.an}/advance?days={days}", timeout=300).json()

    def faults(self, settings: dict) -> None:
        for base in (self.an, self.mc):
            requests.post(base + "/faults", json=settings, timeout=10)

    def measure(self, base: str, work: Callable[[], object]) -> tuple[float, dict]:
        """Seconds the work took and what the platform saw meanwhile."""
        requests.post(base + "/reset", timeout=10)
        started = time.monotonic()
        work()
        seconds = time.monotonic() - started
        return seconds, requests.get(base + "/stats", timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-parsons", action="store_true")
    args = parser.parse_args()
    rate = 4.0 * args.factor
    an_latency, mc_latency = 0.300 / args.factor, 0.150 / args.factor
    print(
        f"Sandbox: {args.people:,} people; Action Network {rate:g} req/s, {an_latency * 1000:.0f} ms median; "
        f"Mailchimp 10 connections, {mc_latency * 1000:.0f} ms median (factor {args.factor:g})",
        flush=True,
    )
    platforms = Platforms(args.people, args.seed, rate, an_latency, mc_latency)
    workdir = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    head_to_head = None
    try:
        rows = run(platforms, rate, an_latency, workdir, args.skip_parsons)
        if any(r.tool == "Parsons" for r in rows):
            print(f"  Mailchimp members, full, {HEAD_TO_HEAD} times each in turns", flush=True)
            head_to_head = member_pulls_head_to_head(platforms, workdir)
    finally:
        platforms.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # warehouses of sandbox records only
    print_table(rows, head_to_head)
    return 0


def run(
    platforms: Platforms, rate: float, an_latency: float, workdir: Path, skip_parsons: bool
) -> list[Row]:
    env = platforms.env

    def clients() -> tuple[ActionNetworkClient, MailchimpClient]:
        an = ActionNetworkClient(
            env["ACTION_NETWORK_API_KEY"],
            env["ACTION_NETWORK_BASE_URL"],
            requests_per_second=rate,
            expected_latency=an_latency,
            timeout=(5.0, 5.0),
        )
        mc = MailchimpClient(
            env["MAILCHIMP_API_KEY"],
            env["MAILCHIMP_LIST_ID"],
            env["MAILCHIMP_BASE_URL"],
            timeout=(5.0, 5.0),
        )
        return an, mc

    def groundswell(con, label: str, everything: bool = True) -> list[Row]:
        """People and members first (what Parsons is compared on), then, unless told not
        to, every other resource of each platform."""
        truth = platforms.counts()
        an, mc = clients()
        pulls = [
            (
                "Action Network people",
                platforms.an,
                an,
                lambda: land_action_network_people(con, an, label, print_nothing),
                "SELECT count(*), count(DISTINCT record_id) FROM raw_action_network WHERE resource = 'people'",
                truth["action_network_people"],
            ),
            (
                "Mailchimp members",
                platforms.mc,
                mc,
                lambda: land_mailchimp_members(con, mc, label, print_nothing),
                LIVE_MEMBERS,
                truth["mailchimp_members"],
            ),
        ]
        if everything:
            an_all, mc_all = clients()
            actions = ", ".join(f"'{name}'" for name in ACTIONS)
            pulls += [
                (
                    "Action Network actions, tags, lists",
                    platforms.an,
                    an_all,
                    lambda: (
                        land_action_network_actions(con, an_all, label, print_nothing),
                        land_action_network_whole(con, an_all, label, print_nothing),
                    ),
                    f"SELECT count(*), count(DISTINCT record_id) FROM raw_action_network WHERE resource IN ({actions})",
                    sum(truth[f"action_network_{name}"] for name in ACTIONS),
                ),
                (
                    "Mailchimp campaigns, activity, audience",
                    platforms.mc,
                    mc_all,
                    lambda: (
                        land_mailchimp_audience(con, mc_all, label),
                        land_mailchimp_campaigns(con, mc_all, label, print_nothing),
                        reconcile_mailchimp_members(con, mc_all, label, print_nothing),
                    ),
                    "SELECT count(*), count(DISTINCT record_id) FROM raw_mailchimp WHERE resource = 'email_activity'",
                    truth["mailchimp_email_activity"],
                ),
            ]
        rows = []
        for name, base, client, work, landed_sql, known in pulls:
            seconds, st = platforms.measure(base, work)
            made = sum(st["requests"].values())
            if base == platforms.an:
                used = f"{made / seconds / rate:.0%} of {rate:g}/s"
            else:
                used = f"{st['max_concurrency']} of 10 conn."
            total, distinct = con.execute(landed_sql).fetchone()
            if landed_sql is LIVE_MEMBERS:
                total = con.execute(
                    "SELECT count(*) FROM raw_mailchimp WHERE resource = 'members'"
                ).fetchone()[0]
            duplicates = (
                "" if label == "incremental" or total == distinct else f" ({total - distinct} dup!)"
            )
            rows.append(
                Row(
                    "Groundswell",
                    f"{name}, {label}{duplicates}",
                    made,
                    seconds,
                    distinct,
                    known,
                    st["throttled"],
                    client.http.stats.retries,
                    used,
                )
            )
            print(f"  {rows[-1].pull}: {made:,} requests in {seconds:.1f} s", flush=True)
        return rows

    con = connect(workdir / "warehouse.duckdb")
    rows = groundswell(con, "full")
    MINIMUM["actions"] = an_minimum_requests(con)
    MINIMUM["collections"] = an_collections(con)
    print("  Groundswell full pull done", flush=True)
    changes = platforms.advance(days=1)
    print(f"  one simulated day: {changes}", flush=True)
    rows += groundswell(con, "incremental")
    rows.append(reconciliation(platforms, con, clients()[1]))
    con.close()

    platforms.faults(FAULTS)
    faulty = connect(workdir / "faults.duckdb")
    for row in groundswell(faulty, "full, 5% faults", everything=False):
        row.limit_used = "-"
        rows.append(row)
    faulty.close()
    platforms.faults(NO_FAULTS)
    print("  fault run done", flush=True)
    if not skip_parsons:
        rows += parsons(platforms, rate)
    return rows


# Members we hold that are not marked deleted: a permanent delete shows only here.
LIVE_MEMBERS = """
    SELECT count(*), count(*) FILTER (WHERE payload ->> '$.status' IS DISTINCT FROM 'deleted')
    FROM (SELECT payload FROM raw_mailchimp WHERE resource = 'members'
          QUALIFY row_number() OVER (PARTITION BY record_id
                                     ORDER BY modified_at DESC NULLS LAST, loaded_at DESC) = 1)
"""


def reconciliation(platforms: Platforms, con, mc: MailchimpClient) -> Row:
    """The weekly read of the member id set, forced now, finding the day's deletions."""
    seconds, st = platforms.measure(
        platforms.mc,
        lambda: reconcile_mailchimp_members(
            con, mc, "reconcile", print_nothing, every=timedelta(0)
        ),
    )
    _, live = con.execute(LIVE_MEMBERS).fetchone()
    return Row(
        "Groundswell",
        "Mailchimp members, weekly reconciliation",
        sum(st["requests"].values()),
        seconds,
        live,
        platforms.counts()["mailchimp_members"],
        st["throttled"],
        mc.http.stats.retries,
        f"{st['max_concurrency']} of 10 conn.",
    )


MINIMUM: dict[str, int] = {}
OBJECTS = {
    "petitions": ("signatures", "petition"),
    "events": ("attendances", "event"),
    "forms": ("submissions", "form"),
    "fundraising_pages": ("donations", "fundraising_page"),
    "advocacy_campaigns": ("outreaches", "advocacy_campaign"),
}


def an_minimum_requests(con) -> int:
    """The fewest requests that can read what landed, at 25 a page: every collection's
    pages, each object's action pages (one even when empty), each tag's taggings, the
    custom fields."""
    pages = 0

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])

    for collection, (actions, name) in OBJECTS.items():
        pages += max(
            1,
            -(
                -count(
                    f"SELECT count(DISTINCT record_id) FROM raw_action_network WHERE resource = '{collection}'"
                )
                // 25
            ),
        )
        pages += count(
            f"""SELECT coalesce(sum(greatest(1, ceil(n / 25))), 0) FROM (
                SELECT o.record_id, count(DISTINCT a.record_id) AS n
                FROM (SELECT DISTINCT record_id FROM raw_action_network WHERE resource = '{collection}') o
                LEFT JOIN raw_action_network a ON a.resource = '{actions}'
                 AND a.payload ->> '$."action_network:{name}_id"' = o.record_id
                GROUP BY 1)"""
        )
    for whole in ("tags", "lists"):
        pages += max(
            1,
            -(
                -count(
                    f"SELECT count(DISTINCT record_id) FROM raw_action_network WHERE resource = '{whole}'"
                )
                // 25
            ),
        )
    pages += count(
        """SELECT coalesce(sum(greatest(1, ceil(n / 25))), 0) FROM (
            SELECT t.record_id, count(DISTINCT g.record_id) AS n
            FROM (SELECT DISTINCT record_id FROM raw_action_network WHERE resource = 'tags') t
            LEFT JOIN raw_action_network g ON g.resource = 'taggings'
             AND g.payload ->> '$."groundswell:tag_id"' = t.record_id
            GROUP BY 1)"""
    )
    return pages + 1  # metadata/custom_fields


def an_collections(con) -> int:
    """The Action Network collections an incremental pull must ask once each, changed or
    not: people, each object collection and each object's actions, tags, lists, each
    tag's taggings, the custom fields. The constant per resource of its requests."""

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])

    objects = sum(
        1
        + count(f"SELECT count(DISTINCT record_id) FROM raw_action_network WHERE resource = '{c}'")
        for c in OBJECTS
    )
    tags = count("SELECT count(DISTINCT record_id) FROM raw_action_network WHERE resource = 'tags'")
    return 1 + objects + 2 + tags + 1


def print_nothing(_: str) -> None:
    pass


def parsons(platforms: Platforms, rate: float) -> list[Row]:
    try:
        from parsons import ActionNetwork
        from parsons.utilities.api_connector import APIConnector
    except ImportError:
        print(
            "  Parsons is not installed: `pip install -e '.[bench]'` (or `make bench`)", flush=True
        )
        return []
    env, truth = platforms.env, platforms.counts()
    an = ActionNetwork(api_token=env["ACTION_NETWORK_API_KEY"])
    an.api_url = env["ACTION_NETWORK_BASE_URL"]
    an.api = APIConnector(an.api_url, headers=an.headers)
    result: dict = {}

    def pull_people() -> None:
        try:
            result["people"] = an.get_people()
        except Exception as exc:  # Parsons stops at the first error: report where
            result["error"] = type(exc).__name__

    seconds, st = platforms.measure(platforms.an, pull_people)
    people = result.get("people")
    got = len({row["identifiers"][0] for row in people}) if people is not None else 0
    made = sum(st["requests"].values())
    stopped = f" (stopped: {result['error']})" if "error" in result else ""
    rows = [
        Row(
            "Parsons",
            f"Action Network people, full{stopped}",
            made,
            seconds,
            got,
            truth["action_network_people"],
            st["throttled"],
            0,
            f"{made / seconds / rate:.0%} of {rate:g}/s",
        )
    ]

    members: list = []
    pull_members = parsons_member_pull(platforms, members)
    seconds, st = platforms.measure(platforms.mc, pull_members)
    rows.append(
        Row(
            "Parsons",
            "Mailchimp members, full",
            sum(st["requests"].values()),
            seconds,
            len({m["id"] for m in members}),
            truth["mailchimp_members"],
            st["throttled"],
            0,
            f"{st['max_concurrency']} of 10 conn.",
        )
    )
    return rows


def parsons_member_pull(platforms: Platforms, members: list) -> Callable[[], None]:
    """Parsons' whole-audience read: `Mailchimp.get_members` a page at a time, as its
    caller must page it, each page's rows added to `members`."""
    from parsons import Mailchimp
    from parsons.utilities.api_connector import APIConnector
    from requests.auth import HTTPBasicAuth

    env = platforms.env
    mc = Mailchimp(api_key=env["MAILCHIMP_API_KEY"])
    mc.uri = env["MAILCHIMP_BASE_URL"] + "/"
    mc.client = APIConnector(mc.uri, auth=HTTPBasicAuth("x", env["MAILCHIMP_API_KEY"]))

    def pull() -> None:
        offset = 0
        while True:  # get_members returns one page: its caller pages, one request at a time
            page = mc.get_members(env["MAILCHIMP_LIST_ID"], count=1000, offset=offset)
            if page is None or page.num_rows == 0:
                return
            members.extend(page)
            offset += page.num_rows

    return pull


def member_pulls_head_to_head(
    platforms: Platforms, workdir: Path, repeats: int = HEAD_TO_HEAD
) -> tuple[list[float], list[float]]:
    """The full member pull, Groundswell's (into a fresh warehouse each time) and Parsons',
    taken in turns `repeats` times on the same audience: a pull of well under a second is
    too short to judge by one run. Returns each one's seconds."""
    env, ours, theirs = platforms.env, [], []
    for turn in range(repeats):
        con = connect(workdir / f"head-to-head-{turn}.duckdb")
        try:
            mc = MailchimpClient(
                env["MAILCHIMP_API_KEY"],
                env["MAILCHIMP_LIST_ID"],
                env["MAILCHIMP_BASE_URL"],
                timeout=(5.0, 5.0),
            )
            seconds, _ = platforms.measure(
                platforms.mc,
                lambda con=con, mc=mc: land_mailchimp_members(con, mc, "h2h", print_nothing),
            )
        finally:
            con.close()
        ours.append(seconds)
        seconds, _ = platforms.measure(platforms.mc, parsons_member_pull(platforms, []))
        theirs.append(seconds)
    return ours, theirs


def print_table(rows: list[Row], head_to_head: tuple[list[float], list[float]] | None) -> None:
    widths = [max(len(h), *(len(r.cells()[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row.cells(), widths, strict=True)))
    by = {r.pull: r for r in rows if r.tool == "Groundswell"}
    an_full, mc_full = by["Action Network people, full"], by["Mailchimp members, full"]
    an_inc, mc_inc = by["Action Network people, incremental"], by["Mailchimp members, incremental"]
    act_full = by["Action Network actions, tags, lists, full"]
    act_inc = by["Action Network actions, tags, lists, incremental"]
    eng_full = by["Mailchimp campaigns, activity, audience, full"]
    eng_inc = by["Mailchimp campaigns, activity, audience, incremental"]
    minimum = -(-an_full.truth // 25)
    print()
    print(
        f"Action Network people, full: {an_full.requests} requests for {minimum} pages of 25 and the empty page "
        f"that ends the collection (minimum + {an_full.requests - minimum - 1})"
    )
    print(
        f"Action Network actions, tags, lists, full: {act_full.requests} requests, the minimum at 25 a page "
        f"being {MINIMUM['actions']} (minimum + {act_full.requests - MINIMUM['actions']})"
    )
    full = an_full.requests + act_full.requests
    inc = an_inc.requests + act_inc.requests
    print(
        f"Incremental after one day, share of the full pull's requests: Action Network "
        f"{inc / full:.1%} ({inc} of {full}; people alone {an_inc.requests / an_full.requests:.1%}), "
        f"Mailchimp {(mc_inc.requests + eng_inc.requests) / (mc_full.requests + eng_full.requests):.1%} "
        f"({mc_inc.requests + eng_inc.requests} of {mc_full.requests + eng_full.requests})"
    )
    beyond = an_inc.requests - 1
    print(
        f"Action Network people, incremental: {an_inc.requests} requests = 1 (the collection "
        f"asked once, its constant) + {beyond}, which is {beyond / an_full.requests:.1%} of the "
        f"full pull's {an_full.requests} (target <= 2%)"
    )
    beyond = inc - MINIMUM["collections"]
    print(
        f"Action Network, every resource, incremental: {inc} requests = "
        f"{MINIMUM['collections']} collections asked once each + {beyond} ({beyond / full:.1%} "
        f"of the full pull's {full}; taggings cannot be filtered by date, so each tag's are "
        "read again whole)"
    )
    if head_to_head:
        ours, theirs = (statistics.median(times) for times in head_to_head)
        print(
            f"Mailchimp full pull: {theirs / ours:.1f}x faster than Parsons' sequential paging "
            f"(target >= 5x): median of {len(head_to_head[0])} pulls each, taken in turns, "
            f"{ours:.2f} s against {theirs:.2f} s (Groundswell "
            f"{', '.join(f'{t:.2f}' for t in head_to_head[0])}; Parsons "
            f"{', '.join(f'{t:.2f}' for t in head_to_head[1])})"
        )
    peer = next(
        (r for r in rows if r.tool == "Parsons" and r.pull.startswith("Action Network")), None
    )
    if peer:
        print(
            f"Action Network full pull: {peer.seconds / an_full.seconds:.2f}x faster than Parsons"
        )


if __name__ == "__main__":
    sys.exit(main())
