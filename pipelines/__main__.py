"""`python -m pipelines run|ui`: what `make run` and `make ui` call."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from connectors.registry import PLATFORMS
from pipelines import runs, settings
from pipelines.sandbox_process import SandboxProcess, sandbox_args


class Refused(Exception):
    """A setting or configuration the command cannot start with; its message says which."""


def _settings() -> None:
    """Read `.env` and check every setting before anything starts or is asked for."""
    settings.load_env()
    try:
        settings.validate()
    except ValueError as exc:
        raise Refused(str(exc)) from None


def _with_sandbox_if_needed() -> SandboxProcess | None:
    settings.load_env()
    if not settings.wants_sandbox():
        return None
    print("No platform keys configured: starting the sandbox platforms on loopback.", flush=True)
    sandbox = SandboxProcess(sandbox_args())
    settings.pin(sandbox.start())
    return sandbox


def _definitions():
    """build_definitions(), with a bad setting turned into Refused (one line, no traceback)."""
    from pipelines.definitions import build_definitions

    try:
        return build_definitions()
    except ValueError as exc:
        raise Refused(str(exc)) from None


def _instance():
    """The Dagster instance, after checking the wait setting the run will use; refused when
    DAGSTER_POSTGRES_URL's database does not answer."""
    try:
        runs.wait_limit_seconds()
        return runs.open_instance()
    except ValueError as exc:
        raise Refused(str(exc)) from None


def run(advance_days: float = 0, dry_run: bool = False, confirm: bool = False) -> int:
    """Materialise the whole job once, headless, and print a summary. With `advance_days`
    (sandbox only), move the sandbox's clock on by that many days and run again, so the
    second summary shows what changed and who moved on the ladder. `dry_run` stops after
    the sync plan; `confirm` sends a plan the guard rails stopped, this once."""
    _settings()
    if advance_days and not settings.wants_sandbox():
        print(
            "ADVANCE_DAYS moves the sandbox's clock, and the sandbox is not in use here "
            "(platform keys are set, or SANDBOX=off); run without it.",
            file=sys.stderr,
        )
        return 2
    instance = _instance()
    sandbox = _with_sandbox_if_needed()
    try:
        defs = _definitions()
        run_config = {
            "ops": {"sync_plan": {"config": {"dry_run": dry_run, "confirm_large_changes": confirm}}}
        }
        status = _run_once(defs, instance, run_config)
        if status == 0 and advance_days:
            assert sandbox is not None
            changes = sandbox.advance(advance_days)
            print(
                f"\nThe sandbox moved on {advance_days:g} days: {changes.get('people_joined', 0)} "
                f"people joined, {changes.get('action_network_actions', 0)} actions taken, "
                f"{changes.get('mailchimp_unsubscribed', 0)} unsubscribed. Running again.\n",
                flush=True,
            )
            status = _run_once(defs, instance, run_config, changes.get("asks"))
        return status
    finally:
        if sandbox:
            sandbox.stop()


def _run_once(defs, instance, run_config: dict, truth: dict | None = None) -> int:
    """One run of the whole job and its summary (with the sandbox's truth about its asks,
    after it moved on); 1 when a step failed."""
    from pipelines.definitions import JOB_NAME
    from transforms.summary import summarise

    result = runs.execute(defs.resolve_job_def(JOB_NAME), instance, run_config)
    exports_dir = Path(settings.get("EXPORTS_DIR"))
    # The index of every download, then one folder per list (a file per group inside).
    exports = (
        [exports_dir / "index.html", *sorted(p for p in exports_dir.iterdir() if p.is_dir())]
        if (exports_dir / "index.html").is_file()
        else []
    )
    print(summarise(settings.get("WAREHOUSE_PATH"), result.run_id, exports, truth))
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        print(
            f"\nThe run did not finish cleanly; failed steps: {', '.join(failed)}",
            file=sys.stderr,
        )
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                print(
                    f"  {event.step_key}: {event.step_failure_data.error.message.strip()}",
                    file=sys.stderr,
                )
        return 1
    print("\nDone. `make ui` shows the run and every asset.")
    return 0


def ui() -> int:
    """The Dagster UI on 127.0.0.1:3000, with the sandbox running when no keys are set."""
    settings.pin_shell()  # `dagster dev` loads .env over what it inherits
    _settings()
    from pipelines.serve import Refused as Serving
    from pipelines.serve import service_locks

    home = Path(os.environ.get("DAGSTER_HOME") or "data/dagster")
    try:
        with service_locks(home):
            return _ui()
    except Serving as exc:
        raise Refused(str(exc)) from None


def _ui() -> int:
    runs.clear_dead_runs(_instance())
    sandbox = _with_sandbox_if_needed()
    try:
        return subprocess.call(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                "3000",
            ]
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if sandbox:
            sandbox.stop()


def forget(email: str = "", force: bool = False, phone: str = "", person_id: str = "") -> int:
    """Forget one person everywhere (the forget_person job, in-process), by exactly one of
    their email, phone or person id. Only an address's or a phone's hash goes into the
    run's configuration, so Dagster's history never holds either."""
    _settings()
    try:
        config = _forget_config(email, phone, person_id)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    config["force"] = force
    instance = _instance()
    job = _definitions().resolve_job_def("forget_person")
    result = runs.execute(
        job,
        instance,
        {"ops": {"forget_person_op": {"config": config}}},
    )
    for entry in instance.all_logs(result.run_id):
        if entry.step_key == "forget_person_op" and entry.user_message.startswith(
            ("Forgot", *(p.name for p in PLATFORMS))
        ):
            print(entry.user_message)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                print(event.step_failure_data.error.message.strip(), file=sys.stderr)
        return 1
    return 0


def _forget_config(email: str, phone: str, person_id: str) -> dict:
    """The forget_person op's config for exactly one identifier, hashed where personal;
    ValueError with what to give instead."""
    from transforms.erasure import email_hash, person_id_check, phone_hash

    given = [bool(v.strip()) for v in (email, phone, person_id)]
    if sum(given) != 1:
        raise ValueError(
            "forget: give exactly one of EMAIL=, PHONE= or PERSON_ID=, e.g. make forget "
            "EMAIL=someone@example.org"
        )
    if email.strip():
        return {"email_sha256": email_hash(email)}
    if phone.strip():
        region = settings.get("DEFAULT_PHONE_REGION")
        return {"phone_sha256": phone_hash(phone, region=region)}
    return {"person_id": person_id_check(person_id)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    parser.add_argument("command", choices=["run", "ui", "forget"])
    parser.add_argument(
        "--advance-days",
        type=float,
        default=0,
        help="run: then move the sandbox's clock on this many days and run again",
    )
    parser.add_argument("--dry-run", action="store_true", help="run: stop after the sync plan")
    parser.add_argument(
        "--confirm", action="store_true", help="run: send a plan the guard rails stopped, once"
    )
    parser.add_argument("--email", default="", help="forget: the person's email address")
    parser.add_argument(
        "--phone",
        default="",
        help="forget: the person's phone (read in DEFAULT_PHONE_REGION without a +country code)",
    )
    parser.add_argument(
        "--person-id", default="", help="forget: the person's id (person_id, e.g. p_0123...)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="forget: delete from the warehouse even if a platform's tags could not be removed",
    )
    args = parser.parse_args(argv)
    with runs.sigterm_stops():
        try:
            if args.command == "forget":
                return forget(args.email, args.force, args.phone, args.person_id)
            if args.command == "run":
                return run(args.advance_days, args.dry_run, args.confirm)
            return ui()
        except Refused as exc:
            print(str(exc).strip(), file=sys.stderr)
            return 2
        except runs.GaveUpWaiting as exc:
            print(exc, file=sys.stderr)
            return runs.EXIT_GAVE_UP
        except KeyboardInterrupt:
            print(
                "Stopped (Ctrl-C or SIGTERM); a run it had started is marked failed and "
                "its pool slots are freed.",
                file=sys.stderr,
            )
            return runs.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
