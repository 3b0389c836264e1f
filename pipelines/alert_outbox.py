"""The outbox of alerts: each alert is written to disk before it is sent, one JSON file per
run, and each channel is marked once it delivered; a file whose channels are all done is
removed, leaving a marker so the same run never alerts twice. What failed is retried by the
next sensor evaluation, and given up (with a logged line) after GIVE_UP_AFTER."""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.alert_channels import ChannelError, configured, send
from pipelines.service_settings import ServiceSettings

GIVE_UP_AFTER = timedelta(days=3)
KEEP_SENT_MARKERS = timedelta(days=30)  # a run older than this never alerts again anyway
PENDING, DELIVERED, ABANDONED = "pending", "delivered", "abandoned"

Log = Callable[[str], None]


class Outbox:
    """Alerts not yet delivered, in `<folder>/<run id>.json` (usually $DAGSTER_HOME/alerts)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.sent_folder = self.folder / "sent"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One evaluation at a time adds and sends, so two sensors never send one alert twice."""
        self.sent_folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def known(self, run_id: str) -> bool:
        """Whether this run's alert is already waiting or was already sent."""
        name = _file_name(run_id)
        return (self.folder / f"{name}.json").exists() or (self.sent_folder / name).exists()

    def add(self, alert: dict[str, str], channels: list[str], now: datetime | None = None) -> None:
        """Write the alert, every channel pending, before anything is sent."""
        entry = {
            **alert,
            "created": (now or datetime.now(UTC)).isoformat(),
            "channels": dict.fromkeys(channels, PENDING),
            "attempts": 0,
            "last_errors": {},
        }
        self._write(entry)

    def pending(self) -> list[dict]:
        """Every alert still waiting, oldest first (a file that cannot be read is skipped)."""
        entries = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                entries.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return sorted(entries, key=lambda e: e.get("created", ""))

    def deliver(self, settings: ServiceSettings, warn: Log, now: datetime | None = None) -> int:
        """Send each pending channel of each alert; returns how many alerts are still waiting.
        A channel that fails is skipped for the rest of this pass (it is down) and retried
        on the next; never raises because of a failed send."""
        now = now or datetime.now(UTC)
        down: dict[str, str] = {}
        on = configured(settings)
        waiting = 0
        for entry in self.pending():
            run = entry["run_id"]
            for channel, state in entry["channels"].items():
                if state != PENDING:
                    continue
                if channel in down:
                    continue
                if channel not in on:
                    entry["channels"][channel] = ABANDONED
                    warn(f"Alert for run {run}: not sent by {channel}, no longer configured.")
                    continue
                try:
                    send(channel, entry, settings)
                except ChannelError as exc:
                    down[channel] = str(exc)
                    entry["last_errors"][channel] = str(exc)
                    warn(
                        f"Alert for run {run} not sent by {channel}: {exc}. It stays in the "
                        f"outbox ({self.folder}) and is sent again at the next evaluation."
                    )
                else:
                    entry["channels"][channel] = DELIVERED
                    entry["last_errors"].pop(channel, None)
                    self._write(entry)  # at once: a crash after this never sends it again
            entry["attempts"] += 1
            if _age(entry, now) > GIVE_UP_AFTER:
                for channel, state in entry["channels"].items():
                    if state == PENDING:
                        entry["channels"][channel] = ABANDONED
                        warn(
                            f"Alert for run {run}: gave up sending by {channel} after "
                            f"{GIVE_UP_AFTER.days} days (last: "
                            f"{entry['last_errors'].get(channel, 'not tried')})."
                        )
            if PENDING in entry["channels"].values():
                waiting += 1
                self._write(entry)
            else:
                self._finish(run)
        self._prune(now)
        return waiting

    def _write(self, entry: dict) -> None:
        """Atomically: a crash leaves the old file or the new one, never half of one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{_file_name(entry['run_id'])}.json"
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(entry, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _finish(self, run_id: str) -> None:
        name = _file_name(run_id)
        (self.sent_folder / name).touch()
        (self.folder / f"{name}.json").unlink(missing_ok=True)

    def _prune(self, now: datetime) -> None:
        oldest = now.timestamp() - KEEP_SENT_MARKERS.total_seconds()
        for marker in self.sent_folder.iterdir():
            try:
                if marker.stat().st_mtime < oldest:
                    marker.unlink()
            except OSError:
                continue


def _file_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", run_id)


def _age(entry: dict, now: datetime) -> timedelta:
    try:
        created = datetime.fromisoformat(entry["created"])
    except (KeyError, ValueError):
        return timedelta(0)
    return now - created
