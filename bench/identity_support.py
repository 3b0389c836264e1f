"""The machinery behind bench/identity.py: the sandbox organisation landed straight into a
warehouse's raw tables, normalise + resolve measured in a child process (wall time and peak
memory, without the generator's), pairwise quality against the generator's ground truth,
and the two baselines (exact email, Splink alone with default settings).

Only the product's public steps are called (`build_staging`, `resolve`); results are read
from the contract tables `stg_source_records`, `person_sources` and `people`.

`_child` is the measured work, in a process of its own (`run_child`, bench/child.py); it
prints one line of JSON."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import connectors.registry  # noqa: E402, F401  (registers each platform's staging SQL)
from connectors.forms.landing import land_form_exports  # noqa: E402
from connectors.landing import raw_frame  # noqa: E402
from sandbox.action_network import person_json  # noqa: E402
from sandbox.generator import Organisation, generate, write_form_exports  # noqa: E402
from sandbox.mailchimp import member_json  # noqa: E402
from warehouse.connection import connect  # noqa: E402
from warehouse.load import append  # noqa: E402

# Source records per human in the generator (Action Network 0.77, Mailchimp 0.76, Google
# Forms 0.08, Typeform 0.05, the paper sign-in sheet 0.04): how `--records N` picks the
# number of people.
RECORDS_PER_PERSON = 1.69
CHUNK = 50_000  # records serialised and appended at a time
AN_API = "https://actionnetwork.org/api/v2"
MC_API = "https://us21.api.mailchimp.com/3.0"
BATCH = "bench-identity"
Log = Callable[[str], None]
DEFAULT_REGION = "US"


def people_for_records(records: int) -> int:
    return max(1, round(records / RECORDS_PER_PERSON))


# --------------------------------------------------------------------------- the warehouse


@dataclass
class Landed:
    action_network: int
    mailchimp: int
    forms: int
    forms_quarantined: int

    @property
    def records(self) -> int:
        return self.action_network + self.mailchimp + self.forms


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def land_organisation(
    org: Organisation,
    warehouse: Path,
    workdir: Path,
    *,
    form_prefix: str = "",
    list_seed: int | None = None,
) -> Landed:
    """A fresh warehouse file whose raw tables hold the organisation's people, members and
    form rows as the connectors would have landed them: the sandbox's own JSON shapes, in
    bulk. Form exports go through the real CSV landing. An organisation landed in parts
    names each part's form files with `form_prefix` and keeps one audience (`list_seed`,
    the first part's seed)."""
    con = connect(warehouse)
    try:
        for people in _chunks(org.an_people):
            docs = [person_json(p, AN_API) for p in people]
            append(
                con,
                "raw_action_network",
                raw_frame(
                    "people",
                    [p.uuid for p in people],
                    [d["modified_date"] for d in docs],
                    docs,
                    BATCH,
                ),
            )
        audience = org.seed if list_seed is None else list_seed
        list_id = hashlib.md5(f"list:{audience}".encode()).hexdigest()[:10]
        tag_ids: dict[str, int] = {}
        for member in org.mc_members:  # numbered as the simulated audience numbers them
            for name in member.tags:
                tag_ids.setdefault(name, 5_000_000 + len(tag_ids))
        for members in _chunks(org.mc_members):
            docs = []
            for member in members:
                doc = member_json(member, list_id, MC_API, tag_ids)
                del doc["_links"]  # the client asks for members without them
                docs.append(doc)
            append(
                con,
                "raw_mailchimp",
                raw_frame(
                    "members",
                    [d["id"] for d in docs],
                    [d["last_changed"] for d in docs],
                    docs,
                    BATCH,
                ),
            )
        inbox = workdir / "inbox"
        for path in write_form_exports(org, inbox):
            path.rename(path.with_name(form_prefix + path.name))
        forms = land_form_exports(con, inbox, BATCH, _quiet, _quiet)
        shutil.rmtree(inbox, ignore_errors=True)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return Landed(
        len(org.an_people), len(org.mc_members), forms.rows_loaded, forms.rows_quarantined
    )


def _quiet(_message: str) -> None:
    pass


def truth_table(org: Organisation, form_prefix: str = "") -> pa.Table:
    """(source, source_record_id, human_id) of every source record; form record ids carry
    the part's `form_prefix` as land_organisation named its files."""
    truth = org.truth
    if form_prefix:
        truth = [(s, form_prefix + r if s == "forms" else r, h) for s, r, h in truth]
    source, record, human = zip(*truth, strict=True) if truth else ((), (), ())
    return pa.table(
        {
            "source": pa.array(source, pa.string()),
            "source_record_id": pa.array(record, pa.string()),
            "human_id": pa.array(human, pa.string()),
        }
    )


# ------------------------------------------------------------------- the measured child run


@dataclass
class Stage:
    name: str
    seconds: float  # wall
    peak_mb: float  # the process's peak resident memory during this stage
    cpu_seconds: float = 0.0  # user + system, all threads: less moved by a busy machine


@dataclass
class Measured:
    stages: list[Stage]
    peak_mb: float  # over the whole child process, interpreter and imports included
    counts: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.stages)


def run_child(target: str, *args: str) -> dict:
    """`target` ("module:function") called with `args` in a child process of its own
    (bench/child.py), so only the measured work's memory is counted; returns the JSON
    object it printed last."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, "-m", "bench.child", target, *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"the measured run failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def measure(warehouse: Path, now: datetime, threads: int = 2) -> Measured:
    """Normalise + resolve (+ the golden record, built inside resolve) on a prepared
    warehouse file, in a child process so only that work's memory is counted."""
    result = run_child(
        "bench.identity_support:_child", str(warehouse), now.isoformat(), str(threads)
    )
    return Measured(
        [Stage(**s) for s in result["stages"]], result["peak_mb"], result.get("counts", {})
    )


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> bool:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    """CPU seconds of this process and of the worker processes it has stopped (staging's
    phone parsers)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def _plain(value: object) -> object:
    """What a step returned, as JSON (its counts are for the report, not the metrics)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return int(value)  # numpy and DuckDB integers
    except (TypeError, ValueError):
        return str(value)


def _child(warehouse: str, now_text: str, threads: str) -> int:
    from transforms.identity import resolve
    from transforms.normalise import build_staging

    now = datetime.fromisoformat(now_text)
    stages, counts, overall = [], {}, 0.0
    con = connect(warehouse)
    try:
        con.execute(f"SET threads = {int(threads)}")
        steps = [
            ("normalise", lambda: build_staging(con, DEFAULT_REGION)),
            ("resolve + golden record", lambda: resolve(con, now)),
        ]
        for name, step in steps:
            overall = max(overall, _status_mb("VmHWM"))
            _reset_peak()
            started, cpu = time.perf_counter(), _cpu()
            result = step()
            seconds = time.perf_counter() - started
            stages.append(asdict(Stage(name, seconds, _status_mb("VmHWM"), _cpu() - cpu)))
            counts[name] = _plain(result)
    finally:
        con.close()
    overall = max(overall, _status_mb("VmHWM"), *(s["peak_mb"] for s in stages))
    print(json.dumps({"stages": stages, "peak_mb": overall, "counts": counts}))
    return 0


# ------------------------------------------------------------------------------- quality


@dataclass
class Quality:
    method: str
    records: int
    people_found: int
    true_humans: int
    true_positive_pairs: int
    predicted_pairs: int
    true_pairs: int
    split_humans: int  # humans whose records sit in more than one predicted person
    merged_people: int  # predicted people holding records of more than one human
    unassigned: int  # truth records the method gave no cluster (counted as singletons)
    seconds: float | None = None

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


PAIRWISE_SQL = """
WITH assigned AS (
    SELECT source, source_record_id, any_value(cluster) AS cluster
    FROM ({assignments}) GROUP BY ALL
), focus AS (
    SELECT DISTINCT source, source_record_id FROM ({focus})
), joined AS (
    -- A truth record the method left out is its own cluster.
    SELECT t.human_id,
           coalesce(CAST(a.cluster AS VARCHAR),
                    '~unassigned~|' || t.source || ':' || t.source_record_id) AS cluster,
           a.cluster IS NULL AS unassigned,
           f.source IS NOT NULL AS in_focus
    FROM {truth} t
    LEFT JOIN assigned a USING (source, source_record_id)
    LEFT JOIN focus f USING (source, source_record_id)
), predicted AS (
    SELECT cluster, count(*) AS n, count(*) FILTER (WHERE in_focus) AS s,
           count(DISTINCT human_id) AS humans
    FROM joined GROUP BY cluster
), actual AS (
    SELECT human_id, count(*) AS n, count(*) FILTER (WHERE in_focus) AS s,
           count(DISTINCT cluster) AS clusters
    FROM joined GROUP BY human_id
), both_ AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE in_focus) AS s
    FROM joined GROUP BY cluster, human_id
)
-- Pairs with at least one record in focus: all n(n-1)/2 pairs of a group but the
-- (n-s)(n-s-1)/2 among its records out of focus. Groups without one are not counted.
SELECT
    (SELECT count(*) FILTER (WHERE in_focus) FROM joined),
    (SELECT count(*) FILTER (WHERE s > 0) FROM predicted),
    (SELECT count(*) FILTER (WHERE s > 0) FROM actual),
    (SELECT coalesce(sum(n * (n - 1) // 2 - (n - s) * (n - s - 1) // 2), 0) FROM both_),
    (SELECT coalesce(sum(n * (n - 1) // 2 - (n - s) * (n - s - 1) // 2), 0) FROM predicted),
    (SELECT coalesce(sum(n * (n - 1) // 2 - (n - s) * (n - s - 1) // 2), 0) FROM actual),
    (SELECT count(*) FROM actual WHERE clusters > 1 AND s > 0),
    (SELECT count(*) FROM predicted WHERE humans > 1 AND s > 0),
    (SELECT count(*) FILTER (WHERE unassigned AND in_focus) FROM joined)
"""
# Every truth record is in focus: plain pairwise quality.
EVERY_RECORD = "SELECT source, source_record_id FROM {truth}"
# Records with neither an email nor a phone after normalisation (no email key, no second
# address, no phone key): people known by name and postal address alone.
NAME_AND_ADDRESS_ONLY = (
    "SELECT source, source_record_id FROM wh.stg_source_records "
    "WHERE email_key IS NULL AND alt_email_key IS NULL AND phone_key IS NULL"
)
NAME_AND_ADDRESS_DEFINITION = (
    "Name-and-address-only records have no email and no phone after normalisation (no "
    "email key, no second address, no phone key); pairs counted are those with at least "
    "one such record, in the method's people or in the same true human."
)


def pairwise_quality(
    con: duckdb.DuckDBPyConnection,
    method: str,
    assignments: str,
    truth: str = "truth",
    seconds: float | None = None,
    focus: str | None = None,
) -> Quality:
    """Pairwise precision, recall and cluster counts of a clustering against the truth,
    from cluster sizes alone (no pair is materialised). `assignments` is a query giving
    (source, source_record_id, cluster); `truth` a table of (source, source_record_id,
    human_id). Only truth records are scored. `focus`, a query giving (source,
    source_record_id), restricts the scoring to pairs with at least one of its records
    (and the counts to records, people and humans holding one)."""
    focus = focus or EVERY_RECORD.format(truth=truth)
    sql = PAIRWISE_SQL.format(assignments=assignments, truth=truth, focus=focus)
    row = con.execute(sql).fetchall()[0]
    return Quality(method, *(int(v) for v in row), seconds=seconds)


GROUNDSWELL = "SELECT source, source_record_id, person_id AS cluster FROM wh.person_sources"


def exact_email(con: duckdb.DuckDBPyConnection) -> float:
    """The platforms' own rule: one person per email (our match key, so Gmail dots and
    +tags fold); a record without one stands alone. Builds table `exact_email`."""
    started = time.perf_counter()
    con.execute(
        """
        CREATE OR REPLACE TABLE exact_email AS
        SELECT source, source_record_id, email_key AS cluster
        FROM wh.stg_source_records WHERE email_key IS NOT NULL
        """
    )
    return time.perf_counter() - started


def splink_default(con: duckdb.DuckDBPyConnection, seed: int = 42) -> float:
    """Splink alone, as its tutorial would have a user set it up over our staged records:
    default comparisons, blocking on email, phone, and family name + postcode, u by
    random sampling, EM on two blocking rules, clusters at 0.95. Builds table
    `splink_clusters` (source, source_record_id, cluster); returns seconds."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    started = time.perf_counter()
    con.execute(
        """
        CREATE OR REPLACE TABLE splink_input AS
        SELECT source || '|' || source_record_id AS unique_id, source, source_record_id,
               lower(trim(given_name)) AS given_name, lower(trim(family_name)) AS family_name,
               email, phone, postal_code
        FROM wh.stg_source_records
        """
    )
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("family_name"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("postal_code"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("family_name", "postal_code"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("splink_input"), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("family_name", "postal_code")
    )
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.95
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE splink_clusters AS
        SELECT i.source, i.source_record_id, c.cluster_id AS cluster
        FROM splink_input i JOIN {clusters.physical_name} c USING (unique_id)
        """
    )
    seconds = time.perf_counter() - started
    linker.table_management.delete_tables_created_by_splink_from_db()
    return seconds


def analysis_connection(
    warehouse: Path, truth: pa.Table, threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """A scratch in-memory database with the resolved warehouse attached read-only as `wh`
    and the ground truth as table `truth`."""
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    truth_rows = truth  # noqa: F841 - read by name below
    con.execute("CREATE TABLE truth AS SELECT * FROM truth_rows")
    return con


def person_id_digest(warehouse: Path) -> tuple[str, int]:
    """SHA-256 over the sorted (source, source_record_id, person_id) rows, and their count."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        digest, rows = hashlib.sha256(), 0
        cursor = con.execute(
            "SELECT source, source_record_id, person_id FROM person_sources "
            "ORDER BY source, source_record_id"
        )
        while batch := cursor.fetchmany(100_000):
            digest.update("".join(f"{s}\t{r}\t{p}\n" for s, r, p in batch).encode())
            rows += len(batch)
        return digest.hexdigest(), rows
    finally:
        con.close()


# ------------------------------------------------------------------------------- the runs


@dataclass
class QualityRun:
    people: int
    seed: int
    landed: Landed
    generate_seconds: float
    land_seconds: float
    measured: Measured
    again: Measured  # the second, identical run (for the determinism check)
    results: list[Quality]
    identical: bool
    digests: tuple[str, str]
    # The same methods on pairs holding a name-and-address-only record.
    address_results: list[Quality] = field(default_factory=list)


@dataclass
class ScaleRun:
    people: int
    records: int
    generate_seconds: float
    land_seconds: float
    measured: Measured


def workspace(directory: Path | None, prefix: str = "gs-identity-") -> Path:
    """A new folder for one run's files, inside `directory` (made if missing) or a temp dir."""
    if directory:
        directory.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=directory))


def prepare(people: int, seed: int, workdir: Path, log: Log = print) -> tuple:
    started = time.perf_counter()
    org = generate(people, seed)
    generated = time.perf_counter() - started
    log(f"  generated {people:,} people, {len(org.truth):,} source records in {generated:.1f} s")
    started = time.perf_counter()
    warehouse = workdir / f"warehouse-{people}.duckdb"
    landed = land_organisation(org, warehouse, workdir)
    landed_s = time.perf_counter() - started
    log(f"  landed raw records in {landed_s:.1f} s")
    return org, warehouse, landed, generated, landed_s


def run_quality(
    people: int,
    seed: int,
    *,
    workdir: Path,
    splink: bool = True,
    threads: int = 2,
    log: Log = print,
) -> QualityRun:
    org, warehouse, landed, generated, landed_s = prepare(people, seed, workdir, log)
    twin = warehouse.with_name(warehouse.stem + "-again.duckdb")
    shutil.copyfile(warehouse, twin)
    measured = measure(warehouse, org.now, threads)
    log(f"  normalise + resolve: {measured.seconds:.1f} s, peak {measured.peak_mb:,.0f} MB")
    again = measure(twin, org.now, threads)
    first, second = person_id_digest(warehouse), person_id_digest(twin)
    twin.unlink(missing_ok=True)
    truth = truth_table(org)
    del org
    con = analysis_connection(warehouse, truth, threads)
    try:
        results = [pairwise_quality(con, "Groundswell", GROUNDSWELL, seconds=measured.seconds)]
        address = [pairwise_quality(con, "Groundswell", GROUNDSWELL, focus=NAME_AND_ADDRESS_ONLY)]
        seconds = exact_email(con)
        results.append(
            pairwise_quality(con, "Exact email only", "SELECT * FROM exact_email", seconds=seconds)
        )
        if splink:
            log("  Splink with default settings ...")
            seconds = splink_default(con, seed)
            results.append(
                pairwise_quality(
                    con,
                    "Splink alone, default settings",
                    "SELECT * FROM splink_clusters",
                    seconds=seconds,
                )
            )
            address.append(
                pairwise_quality(
                    con,
                    "Splink alone, default settings",
                    "SELECT * FROM splink_clusters",
                    focus=NAME_AND_ADDRESS_ONLY,
                )
            )
    finally:
        con.close()
    return QualityRun(
        people,
        seed,
        landed,
        generated,
        landed_s,
        measured,
        again,
        results,
        first == second,
        (first[0], second[0]),
        address,
    )


def run_scale(
    people: int, seed: int, *, workdir: Path, threads: int = 2, log: Log = print
) -> ScaleRun:
    org, warehouse, landed, generated, landed_s = prepare(people, seed, workdir, log)
    now = org.now
    del org
    measured = measure(warehouse, now, threads)
    warehouse.unlink(missing_ok=True)
    log(f"  normalise + resolve: {measured.seconds:.1f} s, peak {measured.peak_mb:,.0f} MB")
    return ScaleRun(people, landed.records, generated, landed_s, measured)
