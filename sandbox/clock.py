"""The sandbox's own clock: it starts at the organisation's `now` and moves forward with
real time, and by whole days when asked (`POST /_sandbox/advance?days=N`)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta


class Clock:
    def __init__(self, start: datetime) -> None:
        self._start = start
        self._offset = timedelta(0)
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            elapsed = timedelta(seconds=time.monotonic() - self._t0)
            return (self._start + self._offset + elapsed).replace(microsecond=0)

    def advance(self, days: float) -> tuple[datetime, datetime]:
        """Move forward; returns the window (from, to) that passed."""
        before = self.now()
        with self._lock:
            self._offset += timedelta(days=days)
        return before, self.now()
