"""Push benchmark: the whole job against a sandbox organisation (20,000 people by default)
run three times: the first push, an immediate second push, and a push after one
simulated day. Prints, per push and destination, the write requests sent, the operations
confirmed, the push's wall seconds and operations per second, and what the simulators'
own audit saw (write requests, resubscribes, tags touched outside the namespace).

    python bench/push.py [--people 20000] [--factor 5]

`--factor F` multiplies Action Network's rate limit (4 requests a second) and divides both
latencies by F, so the first push (about one request per Action Network person) fits in
minutes; the table also gives that push's time at the real 4 requests a second."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.sandbox_process import SandboxProcess  # noqa: E402

NAMESPACE = "groundswell:"
HEADER = [
    "push",
    "destination",
    "requests sent",
    "operations",
    "refused",
    "wall s",
    "ops/s",
    "writes the platform saw",
    "resubscribed",
    "tags outside namespace",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--factor", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    rate = 4.0 * args.factor
    with tempfile.TemporaryDirectory(prefix="groundswell-push-") as tmp:
        work = Path(tmp)
        sandbox = SandboxProcess(
            [
                "--people", str(args.people), "--seed", str(args.seed),
                "--an-rate", str(rate),
                "--an-latency-ms", str(300 / args.factor),
                "--mc-latency-ms", str(150 / args.factor),
                "--forms-dir", str(work / "inbox"),
            ]
        )  # fmt: skip
        env = sandbox.start()
        try:
            os.environ.update(env)
            os.environ.update(
                {
                    "WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
                    "FORMS_INBOX": str(work / "inbox"),
                    "EXPORTS_DIR": str(work / "exports"),
                    "LADDER_CONFIG": str(ROOT / "ladder.yaml"),
                    "IDENTITY_CONFIG": str(ROOT / "identity.yaml"),
                    "ACTION_NETWORK_RATE": str(rate),
                    "SANDBOX": "off",
                }
            )
            os.chdir(work)
            rows = []
            for label, advance in (
                ("first push", 0),
                ("second push, nothing changed", 0),
                ("after one simulated day", 1),
            ):
                if advance:
                    changes = sandbox.advance(advance)
                    print(f"# the sandbox moved on {advance} day: {changes}", flush=True)
                rows += push_once(label, env)
            print_table(rows)
            first_an = next(r for r in rows if r[0] == "first push" and r[1] == "Action Network")
            print(
                f"At the real 4 requests a second, the first Action Network push's "
                f"{first_an[2]} requests take about {int(first_an[2].replace(',', '')) / 4 / 60:.0f}"
                " minutes; later pushes send only the changes."
            )
        finally:
            sandbox.stop()
    return 0


def _controls(env: dict[str, str]) -> dict[str, str]:
    return {
        "Mailchimp": env["MAILCHIMP_BASE_URL"].rsplit("/3.0", 1)[0],
        "Action Network": env["ACTION_NETWORK_BASE_URL"].rsplit("/api/v2", 1)[0],
    }


def push_once(label: str, env: dict[str, str]) -> list[list[str]]:
    """One whole run of the job; the push figures from sync_runs and the simulators' audit."""
    import dagster as dg

    from pipelines.definitions import JOB_NAME, build_definitions

    for base in _controls(env).values():
        requests.delete(f"{base}/_sandbox/audit", timeout=30)
    result = (
        build_definitions()
        .resolve_job_def(JOB_NAME)
        .execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise SystemExit(f"{label}: the job failed at {', '.join(failed)}")
    con = duckdb.connect(os.environ["WAREHOUSE_PATH"], read_only=True)
    try:
        runs = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT destination, requests, confirmed, rejected, seconds FROM sync_runs "
                "WHERE run_id = ? AND step = 'push'",
                [result.run_id],
            ).fetchall()
        }
        # What the confirmed operations were, per destination, segment and operation.
        changes = con.execute(
            "SELECT destination, coalesce(segment, item), CASE WHEN kind = 'tag' THEN state "
            "ELSE 'set' END, count(*) FROM sync_ledger WHERE run_id = ? GROUP BY ALL ORDER BY ALL",
            [result.run_id],
        ).fetchall()
    finally:
        con.close()
    print(
        f"# {label}: "
        + (", ".join(f"{d} {seg} {op} x{n}" for d, seg, op, n in changes) or "no changes"),
        flush=True,
    )
    rows = []
    for name, base in _controls(env).items():
        destination = "mailchimp" if name == "Mailchimp" else "action_network"
        audit = requests.get(
            f"{base}/_sandbox/audit", params={"namespace": NAMESPACE}, timeout=30
        ).json()
        resubscribed = sum("resubscribed" in v for v in audit["violations"])
        outside = sum("tag " in v for v in audit["violations"])
        sent, confirmed, refused, seconds = runs.get(destination, (0, 0, 0, 0.0))
        rows.append(
            [
                label, name, f"{sent:,}", f"{confirmed:,}", f"{refused:,}", f"{seconds:.1f}",
                f"{confirmed / seconds:,.0f}" if seconds else "-", f"{audit['writes']:,}",
                str(resubscribed), str(outside),
            ]
        )  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)
    return rows


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
