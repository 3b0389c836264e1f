"""`python -m sandbox serve|generate`: the simulated platforms from the command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import date

from sandbox import generate, start_sandbox, write_form_exports, write_truth


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--people", type=int, default=5000, help="humans in the organisation (default 5000)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="the sandbox's today, YYYY-MM-DD"
    )


STOP_SECONDS = 3.0  # how long a stop waits for request threads to finish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve both simulated platforms until stopped")
    _common(serve)
    serve.add_argument(
        "--an-rate", type=float, default=4.0, help="Action Network requests/second (0 = unlimited)"
    )
    serve.add_argument(
        "--mc-connections",
        type=int,
        default=10,
        help="Mailchimp concurrent connections (0 = unlimited)",
    )
    serve.add_argument(
        "--an-latency-ms",
        type=float,
        default=300,
        help="median Action Network latency (default 300)",
    )
    serve.add_argument(
        "--mc-latency-ms", type=float, default=150, help="median Mailchimp latency (default 150)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--an-port", type=int, default=0)
    serve.add_argument("--mc-port", type=int, default=0)
    serve.add_argument("--forms-dir", help="write the demo form exports here")
    serve.add_argument("--truth-dir", help="write truth.csv (source record -> human) here")
    serve.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="stop when this process (the one that started the sandbox) is gone",
    )
    gen = commands.add_parser(
        "generate", help="write the demo form exports and truth.csv, then exit"
    )
    _common(gen)
    gen.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    if args.command == "generate":
        org = generate(args.people, args.seed, args.today)
        write_form_exports(org, args.out)
        write_truth(org, args.out)
        print(f"wrote the demo exports and truth.csv to {args.out}", file=sys.stderr)
        return 0

    print(f"generating {args.people} people (seed {args.seed})...", file=sys.stderr, flush=True)
    sandbox = start_sandbox(
        people=args.people,
        seed=args.seed,
        an_rate=args.an_rate,
        mc_connections=args.mc_connections,
        host=args.host,
        an_port=args.an_port,
        mc_port=args.mc_port,
        forms_dir=args.forms_dir,
        truth_dir=args.truth_dir,
        today=args.today,
        an_latency=args.an_latency_ms / 1000,
        mc_latency=args.mc_latency_ms / 1000,
    )
    sandbox.mailchimp.warm()
    for line in sandbox.env_lines():
        print(line)
    print(f"# sandbox ready: {args.people} people, seed {args.seed}", flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        if args.parent_pid and os.getppid() != args.parent_pid:
            # Orphaned (the run that started us was killed): nobody will stop us otherwise.
            print("the process that started the sandbox is gone; stopping", file=sys.stderr)
            break
    # Request threads still busy (a stalled answer to a run that was killed) must not keep
    # the sandbox alive after the run that started it: stop within a few seconds regardless.
    stopper = threading.Thread(target=sandbox.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=STOP_SECONDS)
    if stopper.is_alive():
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
