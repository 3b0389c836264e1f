"""The whole warehouse build after landing, measured. Builds the sandbox organisation, lands
its people, members and form exports (as bench/identity.py does) and every Action Network
object, action, tag and tagging and every Mailchimp campaign and email event straight into
a fresh warehouse's raw tables, in the sandbox's own JSON shapes. Then, in a child process
of its own so the generator's memory is not counted, it runs each step the pipeline runs
after landing and prints its wall seconds and peak memory:

    staging         transforms.normalise.build_staging
    identity        transforms.identity.resolve (golden record included)
    activities      transforms.engagement.build_activities
    person_metrics  transforms.engagement.build_person_metrics
    ladder          transforms.ladder.build_ladder (ladder.yaml, validated)
    lists           transforms.segments.build_segments
    exports         transforms.exports.write_list_exports (CSV + XLSX, to a temp dir)

Then, in another child on the same landed records, Splink alone deduplicates them with its
default settings and the blocking rules its documentation suggests for name, email and
postcode data (bench/identity_support.splink_default, over the staged records our build
made), and the report ends with one line: `whole build / Splink default dedupe: R`, our
total wall seconds over Splink's. `--skip-splink` leaves it out.

    python bench/warehouse_build.py [--records 1000000 | --people N] [--seed 42] [--threads 2]
                              [--ladder ladder.yaml] [--workdir DIR] [--keep] [--skip-splink]
                              [--part-people 2000000]

`--records N` picks the number of people that makes about N source records (people make
about 1.69 each); the default is 50,000 records. The generator holds its organisation in
memory (about 4.4 KB a person), so more than `--part-people` (2,000,000) people are made in
parts: each part a generator run of its own, in a process of its own, with its own seed
and its humans numbered on from the last part's, landed into the same warehouse one after
another. After the build, the people are scored on the generator's truth (pairwise
precision and recall). `--records 100000,1000000,3000000` builds
each size in a run of its own, one after another, then prints the curve: each step's wall
seconds and peak memory at every size, and the time ratio of the largest to the smallest."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/, whose warehouse.py would shadow `warehouse`

from bench.identity_support import (  # noqa: E402
    AN_API,
    DEFAULT_REGION,
    GROUNDSWELL,
    Landed,
    Quality,
    Stage,
    _chunks,
    _cpu,
    _plain,
    _reset_peak,
    _status_mb,
    land_organisation,
    pairwise_quality,
    people_for_records,
    run_child,
    splink_default,
    truth_table,
    workspace,
)

BATCH = "bench-warehouse"
EVENT_CHUNK = 200_000
# People generated (and held in memory) at a time: about 8.8 GB of Python objects. A larger
# organisation is made in parts, each a generator run of its own in a child process.
PART_PEOPLE = 2_000_000
PART_SEED_STEP = 1000  # part k's seed is seed + 1000 k: streams that never overlap


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- landing


def land_engagement(org, warehouse: Path) -> dict[str, int]:
    """Action Network objects, actions, tags and taggings and Mailchimp campaigns and email
    activity, appended raw as the connectors would land them; returns rows per resource."""
    from connectors.landing import raw_frame
    from connectors.mailchimp.client import flatten_activity
    from sandbox.action_network import action_json, iso, object_json
    from sandbox.campaigns import CLICK, OPEN
    from warehouse.connection import connect
    from warehouse.load import append, set_cursor

    landed: dict[str, int] = {}
    con = connect(warehouse)
    try:
        objects = {o.uuid: o for group in org.organising.objects.values() for o in group}
        for collection, group in org.organising.objects.items():
            docs = [object_json(o, AN_API) for o in group]
            append(
                con,
                "raw_action_network",
                raw_frame(
                    collection,
                    [o.uuid for o in group],
                    [d["modified_date"] for d in docs],
                    docs,
                    BATCH,
                ),
            )
            landed[collection] = landed.get(collection, 0) + len(docs)
        for collection, actions in org.organising.actions.items():
            for chunk in _chunks(actions):
                docs = [action_json(a, AN_API, objects) for a in chunk]
                append(
                    con,
                    "raw_action_network",
                    raw_frame(
                        collection,
                        [a.uuid for a in chunk],
                        [d["modified_date"] for d in docs],
                        docs,
                        BATCH,
                    ),
                )
                landed[collection] = landed.get(collection, 0) + len(docs)
        names = sorted({t for p in org.an_people for t in p.tags})
        tags = {n: str(uuid.uuid5(uuid.NAMESPACE_URL, n)) for n in names}
        # One tag list for the whole organisation: a part landed after another adds only
        # the tags not yet there.
        known = {
            row[0]
            for row in con.execute(
                "SELECT record_id FROM raw_action_network WHERE resource = 'tags'"
            ).fetchall()
        }
        fresh = [n for n in names if tags[n] not in known]
        docs = [
            {
                "identifiers": [f"action_network:{tags[n]}"],
                "name": n,
                "modified_date": "2025-01-01T00:00:00Z",
            }
            for n in fresh
        ]
        if docs:
            append(
                con,
                "raw_action_network",
                raw_frame(
                    "tags",
                    [tags[n] for n in fresh],
                    [d["modified_date"] for d in docs],
                    docs,
                    BATCH,
                ),
            )
        landed["tags"] = len(docs)
        taggings = [
            {
                "identifiers": [
                    f"action_network:{uuid.uuid5(uuid.NAMESPACE_URL, tags[n] + p.uuid)}"
                ],
                "created_date": iso(p.created),
                "modified_date": iso(p.modified),
                "groundswell:tag_id": tags[n],
                "groundswell:person_id": p.uuid,
            }
            for p in org.an_people
            for n in p.tags
        ]
        for chunk in _chunks(taggings):
            append(
                con,
                "raw_action_network",
                raw_frame(
                    "taggings",
                    [d["identifiers"][0].split(":", 1)[1] for d in chunk],
                    [d["modified_date"] for d in chunk],
                    chunk,
                    BATCH,
                ),
            )
        landed["taggings"] = len(taggings)
        set_cursor(con, "action_network", "taggings#current_batch", BATCH)
        events_landed = 0
        for campaign in org.mc_campaigns:
            doc = {
                "id": campaign.id,
                "send_time": iso(campaign.send_time),
                "settings": {"title": campaign.title, "subject_line": campaign.subject},
            }
            append(
                con,
                "raw_mailchimp",
                raw_frame("campaigns", [campaign.id], [doc["send_time"]], [doc], BATCH),
            )
            events = []
            for i, kind in enumerate(campaign.kinds):
                action = "open" if kind == OPEN else "click" if kind >= CLICK else "bounce"
                member = campaign.who[i]
                events.extend(
                    flatten_activity(
                        campaign.id,
                        {
                            "email_id": member.id,
                            "email_address": member.email,
                            "list_id": "l",
                            "activity": [
                                {
                                    "action": action,
                                    "type": "",
                                    "timestamp": iso(campaign.at(i)),
                                    "url": campaign.url(kind),
                                }
                            ],
                        },
                    )
                )
            for chunk in _chunks(events, EVENT_CHUNK):
                append(
                    con,
                    "raw_mailchimp",
                    raw_frame(
                        "email_activity",
                        [e["id"] for e in chunk],
                        [e["timestamp"] for e in chunk],
                        chunk,
                        BATCH,
                    ),
                )
            events_landed += len(events)
        landed["campaigns"] = len(org.mc_campaigns)
        landed["email_activity"] = events_landed
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return landed


# ------------------------------------------------------------------ the organisation in parts


def split_people(people: int, per_part: int) -> list[int]:
    """People per part: as few parts as hold `per_part` each, sized alike."""
    parts = max(1, -(-people // max(1, per_part)))
    return [people // parts + (1 if k < people % parts else 0) for k in range(parts)]


def _land_part_child(
    warehouse: str, workdir: str, part: str, people: str, seed: str, first_human: str, today: str
) -> int:
    """Generate part `part` of the organisation, land it and write its truth; its memory
    ends with this process."""
    import pyarrow.parquet as pq

    from sandbox.generator import generate

    index, started = int(part), time.perf_counter()
    org = generate(int(people), int(seed), date.fromisoformat(today), int(first_human))
    generated = time.perf_counter() - started
    prefix = f"part{index + 1}-" if index else ""
    started = time.perf_counter()
    landed = land_organisation(
        org,
        Path(warehouse),
        Path(workdir),
        form_prefix=prefix,
        list_seed=int(seed) - index * PART_SEED_STEP,
    )
    engagement = land_engagement(org, Path(warehouse))
    pq.write_table(truth_table(org, prefix), Path(workdir) / f"truth-{index}.parquet")
    result = {
        "landed": asdict(landed),
        "engagement": engagement,
        "now": org.now.isoformat(),
        "humans": len(org.humans),
        "generate_seconds": generated,
        "land_seconds": time.perf_counter() - started,
        "peak_mb": _status_mb("VmHWM"),
    }
    print(json.dumps(result))
    return 0


def land_parts(
    warehouse: Path, workdir: Path, people: int, seed: int, per_part: int
) -> tuple[Landed, dict[str, int], datetime, float]:
    """The organisation of `people`, generated and landed part by part (one part when it
    fits): what was landed, the engagement rows, the clock and the parts' peak MB."""
    parts = split_people(people, per_part)
    today = datetime.now(UTC).date().isoformat()
    landed, engagement, first_human, peak, now = Landed(0, 0, 0, 0), {}, 0, 0.0, None
    for index, count in enumerate(parts):
        result = run_child(
            "bench.warehouse_build:_land_part_child",
            str(warehouse),
            str(workdir),
            str(index),
            str(count),
            str(seed + index * PART_SEED_STEP),
            str(first_human),
            today,
        )
        first_human += result["humans"]
        for key, value in result["landed"].items():
            setattr(landed, key, getattr(landed, key) + value)
        for key, value in result["engagement"].items():
            engagement[key] = engagement.get(key, 0) + value
        peak, now = max(peak, result["peak_mb"]), datetime.fromisoformat(result["now"])
        say(
            f"  part {index + 1} of {len(parts)}: {count:,} people generated in "
            f"{result['generate_seconds']:.1f} s, landed in {result['land_seconds']:.1f} s "
            f"(peak {result['peak_mb']:,.0f} MB)"
        )
    return landed, engagement, now, peak


def scratch_connection(warehouse: Path | str, threads: int | str):
    """An in-memory DuckDB with the warehouse attached read-only as `wh`, on the build's
    threads and DUCKDB_MEMORY_LIMIT (DuckDB's share of it, as the build's connections)."""
    import os

    import duckdb

    from warehouse.connection import duckdb_share

    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    limit = os.environ.get("DUCKDB_MEMORY_LIMIT", "").strip()
    if limit:
        con.execute(f"SET memory_limit = '{duckdb_share(limit)}'")
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    return con


def identity_quality(warehouse: Path, workdir: Path, threads: int) -> Quality:
    """Pairwise precision and recall of the build's people on the generator's truth."""
    con = scratch_connection(warehouse, threads)
    try:
        truth = (workdir / "truth-*.parquet").as_posix()
        con.execute(f"CREATE TABLE truth AS SELECT * FROM read_parquet('{truth}')")
        return pairwise_quality(con, "Groundswell", GROUNDSWELL)
    finally:
        con.close()


# ----------------------------------------------------------------------- the measured child


def build_steps(
    con, ladder, now: datetime, exports: Path
) -> list[tuple[str, Callable[[], object]]]:
    """Each step the pipeline runs after landing, in order, as (name, call): what this
    benchmark measures and tests/bench/test_build_outputs.py compares."""
    from transforms.engagement import build_activities, build_person_metrics
    from transforms.exports import write_list_exports
    from transforms.identity import resolve
    from transforms.ladder import build_ladder
    from transforms.normalise import build_staging
    from transforms.segments import build_segments

    return [
        ("staging", lambda: build_staging(con, DEFAULT_REGION)),
        ("identity", lambda: resolve(con, now)),
        ("activities", lambda: build_activities(con, ladder.namespace)),
        ("person_metrics", lambda: build_person_metrics(con, now)),
        ("ladder", lambda: build_ladder(con, ladder, now)),
        ("lists", lambda: build_segments(con, ladder, now)),
        ("exports", lambda: write_list_exports(con, ladder, exports, now).rows_per_list()),
    ]


def _child(warehouse: str, now_text: str, threads: str, ladder_path: str, exports: str) -> int:
    from transforms.ladder_config import load
    from warehouse.connection import connect

    now = datetime.fromisoformat(now_text)
    ladder = load(ladder_path)
    stages, counts, overall = [], {}, 0.0
    con = connect(warehouse)
    try:
        con.execute(f"SET threads = {int(threads)}")
        for name, step in build_steps(con, ladder, now, Path(exports)):
            overall = max(overall, _status_mb("VmHWM"))
            _reset_peak()
            started, cpu = time.perf_counter(), _cpu()
            result = step()
            seconds = time.perf_counter() - started
            stages.append(asdict(Stage(name, seconds, _status_mb("VmHWM"), _cpu() - cpu)))
            counts[name] = _plain(result)
        counts["people"] = con.execute("SELECT count(*) FROM people").fetchone()[0]
        counts["source_records"] = con.execute(
            "SELECT count(*) FROM stg_source_records"
        ).fetchone()[0]
    finally:
        con.close()
    overall = max(overall, _status_mb("VmHWM"), *(s["peak_mb"] for s in stages))
    print(json.dumps({"stages": stages, "peak_mb": overall, "counts": counts}))
    return 0


def _splink_child(warehouse: str, threads: str) -> int:
    """Splink's default dedupe of the staged records, alone in this process: its seconds
    and peak memory, under the same DUCKDB_MEMORY_LIMIT and threads as the build."""
    con = scratch_connection(warehouse, threads)
    try:
        _reset_peak()
        cpu = _cpu()
        seconds = splink_default(con)
        cpu = _cpu() - cpu
        clusters = con.execute("SELECT count(DISTINCT cluster) FROM splink_clusters").fetchone()[0]
    finally:
        con.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_mb": _status_mb("VmHWM"),
                "clusters": clusters,
            }
        )
    )
    return 0


def measure_splink(warehouse: Path, threads: int) -> dict | None:
    """Splink's run, or None (said why) when it fails: the build's figures still print."""
    try:
        return run_child("bench.warehouse_build:_splink_child", str(warehouse), str(threads))
    except RuntimeError as exc:
        say(f"  Splink's default dedupe did not finish: {exc}")
        return None


def measure(
    warehouse: Path, now: datetime, threads: int, ladder: Path, exports: Path
) -> tuple[list[Stage], float, dict]:
    result = run_child(
        "bench.warehouse_build:_child",
        str(warehouse),
        now.isoformat(),
        str(threads),
        str(ladder),
        str(exports),
    )
    return [Stage(**s) for s in result["stages"]], result["peak_mb"], result["counts"]


# ------------------------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--people", type=int, help="humans in the organisation")
    size.add_argument(
        "--records",
        type=_sizes,
        help="about this many source records (default 50000); several, comma-separated "
        "(100000,1000000,3000000), build one after another and print the curve",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--ladder", type=Path, default=ROOT / "ladder.yaml")
    parser.add_argument("--workdir", type=Path, help="where the warehouse files go (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse files")
    parser.add_argument(
        "--skip-splink", action="store_true", help="leave out Splink's default dedupe"
    )
    parser.add_argument(
        "--splink-up-to",
        type=int,
        metavar="RECORDS",
        help="run Splink's default dedupe only up to this many records (at 10M it fills "
        "about 45 GB of disk with temp files)",
    )
    parser.add_argument(
        "--part-people",
        type=int,
        default=PART_PEOPLE,
        help=f"people generated at a time; more are made in parts (default {PART_PEOPLE:,})",
    )
    parser.add_argument("--summary-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.records and len(args.records) > 1:
        return curve(args)
    people = args.people or people_for_records(args.records[0] if args.records else 50_000)

    workdir = workspace(args.workdir, "gs-warehouse-")
    try:
        say(f"Warehouse build: {people:,} people (seed {args.seed}), threads={args.threads}")
        warehouse = workdir / "warehouse.duckdb"
        landed, engagement, now, generator_mb = land_parts(
            warehouse, workdir, people, args.seed, args.part_people
        )
        stages, peak, counts = measure(
            warehouse, now, args.threads, args.ladder.resolve(), workdir / "exports"
        )
        quality = identity_quality(warehouse, workdir, args.threads)
        splink, too_many = (
            None,
            args.splink_up_to is not None and landed.records > args.splink_up_to,
        )
        if too_many and not args.skip_splink:
            say(
                f"  Splink's default dedupe skipped: more than --splink-up-to {args.splink_up_to:,}"
            )
        elif not args.skip_splink:
            say("  Splink's default dedupe of the same records ...")
            splink = measure_splink(warehouse, args.threads)
        report(people, landed, engagement, stages, peak, counts, args.threads, splink, quality)
        print(
            f"Generating and landing (a process of its own per part, not the build): "
            f"peak {generator_mb:,.0f} MB"
        )
        if args.summary_json:
            summary = {
                "records": landed.records,
                "stages": [asdict(s) for s in stages],
                "peak_mb": peak,
                "splink": splink,
                "splink_skipped": bool(too_many or args.skip_splink),
                "generator_mb": generator_mb,
                "precision": quality.precision,
                "recall": quality.recall,
            }
            print("SUMMARY " + json.dumps(summary), flush=True)
    finally:
        if args.keep:
            say(f"Warehouse files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of records, or several: {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"not a number of records, or several: {text!r}")
    return sizes


def size_command(args: argparse.Namespace, records: int) -> list[str]:
    """The run of this benchmark that builds one size of the curve, on the curve's own
    options (seed, threads, ladder, workdir, --keep, Splink's)."""
    command = [sys.executable, __file__, "--records", str(records), "--summary-json"]
    command += ["--seed", str(args.seed), "--threads", str(args.threads)]
    command += ["--ladder", str(args.ladder)]
    if args.workdir:
        command += ["--workdir", str(args.workdir)]
    if args.keep:
        command.append("--keep")
    if args.skip_splink:
        command.append("--skip-splink")
    if args.splink_up_to is not None:
        command += ["--splink-up-to", str(args.splink_up_to)]
    command += ["--part-people", str(args.part_people)]
    return command


def curve(args: argparse.Namespace) -> int:
    """Each size built by a run of this benchmark of its own (so the generator's memory of
    one size is not carried into the next), then one table: each step's wall seconds and
    peak MB at every size, and the time ratio of the largest to the smallest."""
    results = []
    for records in args.records:
        command = size_command(args, records)
        summary = None
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as child:
            for line in child.stdout:
                if line.startswith("SUMMARY "):
                    summary = json.loads(line[len("SUMMARY ") :])
                else:
                    print(line, end="", flush=True)
        if child.returncode != 0 or summary is None:
            say(f"The build of {records:,} records failed (exit {child.returncode}).")
            return 1
        results.append(summary)
    print_curve(results)
    return 0


def print_curve(results: list[dict]) -> None:
    sizes = [f"{r['records'] / 1e6:.2f}M" for r in results]
    width = 15
    print()
    print("The curve: wall seconds / peak MB of each step, by source records")
    print("step".ljust(width) + "".join(f"{size:>20}" for size in sizes))
    names = [s["name"] for s in results[0]["stages"]]
    for index, name in enumerate(names):
        cells = [r["stages"][index] for r in results]
        print(
            name.ljust(width)
            + "".join(f"{c['seconds']:>11.1f} / {c['peak_mb']:>6,.0f}" for c in cells)
        )
    totals = [sum(s["seconds"] for s in r["stages"]) for r in results]
    print(
        "total".ljust(width)
        + "".join(
            f"{t:>11.1f} / {r['peak_mb']:>6,.0f}" for t, r in zip(totals, results, strict=True)
        )
    )
    if any(r["splink"] for r in results):
        print(
            "Splink default".ljust(width)
            + "".join(
                f"{r['splink']['seconds']:>11.1f} / {r['splink']['peak_mb']:>6,.0f}"
                if r["splink"]
                else f"{'skipped' if r.get('splink_skipped') else 'did not finish':>20}"
                for r in results
            )
        )
        print(
            "build / Splink".ljust(width)
            + "".join(
                f"{t / r['splink']['seconds']:>20.2f}" if r["splink"] else f"{'-':>20}"
                for t, r in zip(totals, results, strict=True)
            )
        )
    print("generator MB".ljust(width) + "".join(f"{r['generator_mb']:>20,.0f}" for r in results))
    for measure_ in ("precision", "recall"):
        print(measure_.ljust(width) + "".join(f"{r[measure_]:>20.4f}" for r in results))
    first, last = results[0], results[-1]
    print(
        f"time ratio {sizes[-1]} / {sizes[0]}: {totals[-1] / totals[0]:.2f} "
        f"for {last['records'] / first['records']:.2f} times the records"
    )


def report(
    people: int,
    landed: Landed,
    engagement: dict[str, int],
    stages: list[Stage],
    peak: float,
    counts: dict,
    threads: int,
    splink: dict | None = None,
    quality: Quality | None = None,
) -> None:
    width = max(len(s.name) for s in [*stages, Stage("total", 0, 0)])
    print()
    print(f"{'step'.ljust(width)}  {'wall s':>8}  {'cpu s':>8}  {'peak MB':>8}")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 8}  {'-' * 8}")
    for s in stages:
        print(f"{s.name.ljust(width)}  {s.seconds:8.2f}  {s.cpu_seconds:8.2f}  {s.peak_mb:8,.0f}")
    total = sum(s.seconds for s in stages)
    cpu = sum(s.cpu_seconds for s in stages)
    print(f"{'total'.ljust(width)}  {total:8.2f}  {cpu:8.2f}  {peak:8,.0f}")
    activities = counts.get("activities") or {}
    exported = counts.get("exports") or {}
    raw_engagement = sum(engagement.values())
    print()
    print(
        f"{landed.records:,} source records (Action Network {landed.action_network:,}, "
        f"Mailchimp {landed.mailchimp:,}, form rows {landed.forms:,}) of {people:,} humans; "
        f"{raw_engagement:,} raw engagement records "
        f"({engagement.get('email_activity', 0):,} email events, "
        f"{engagement.get('taggings', 0):,} taggings)."
    )
    print(
        f"{counts.get('people', 0):,} people resolved; {sum(activities.values()):,} activities "
        f"({', '.join(f'{k} {v:,}' for k, v in activities.items())}); "
        f"{counts.get('person_metrics', 0):,} person_metrics rows."
    )
    print(f"Ladder: {', '.join(f'{k} {v:,}' for k, v in (counts.get('ladder') or {}).items())}")
    print(f"Lists: {', '.join(f'{k} {v:,}' for k, v in (counts.get('lists') or {}).items())}")
    print(f"Exported rows: {', '.join(f'{k} {v:,}' for k, v in exported.items())}")
    print(
        f"Each step in one child process with DuckDB threads={threads}; wall and cpu seconds "
        "(user + system over all threads, staging's phone-parsing workers included); peak MB "
        "is the process's peak resident memory during the step (total: the whole process, "
        "interpreter included; each phone-parsing worker holds about 20 MB more)."
    )
    if quality:
        print(
            f"Identity on the generator's truth: precision {quality.precision:.4f}, recall "
            f"{quality.recall:.4f}, F1 {quality.f1:.4f} ({quality.records:,} records of "
            f"{quality.true_humans:,} humans in {quality.people_found:,} people)"
        )
    if splink:
        print()
        print(
            f"Splink default dedupe (same records, own process): {splink['seconds']:.2f} s "
            f"wall, {splink['cpu_seconds']:.2f} s cpu, peak {splink['peak_mb']:,.0f} MB, "
            f"{splink['clusters']:,} clusters"
        )
        print(f"whole build / Splink default dedupe: {total / splink['seconds']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
