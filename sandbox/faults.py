"""Faults a simulated platform injects on request, so clients can be tested against the
failures real APIs have: server errors, stalls, cut-off bodies, HTML 404s, 429 bursts."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("error", "timeout", "truncate", "html_404")


@dataclass
class Faults:
    error_rate: float = 0.0  # share answered 500, 502 or 503
    timeout_rate: float = 0.0  # share that stall `stall_seconds` before answering
    truncate_rate: float = 0.0  # share whose body is cut in half
    html_404_rate: float = 0.0  # share answered with an HTML "Not Found" page
    burst_429: int = 0  # the next N requests are answered 429
    stall_seconds: float = 5.0
    seed: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, settings: dict[str, Any]) -> None:
        with self._lock:
            for name in (
                "error_rate",
                "timeout_rate",
                "truncate_rate",
                "html_404_rate",
                "stall_seconds",
            ):
                if name in settings:
                    setattr(self, name, float(settings[name]))
            if "burst_429" in settings:
                self.burst_429 = int(settings["burst_429"])
            if "seed" in settings:
                self.seed = int(settings["seed"])
                self._rng = random.Random(self.seed)

    def draw(self) -> str | None:
        """Which fault, if any, this request gets."""
        with self._lock:
            if self.burst_429 > 0:
                self.burst_429 -= 1
                return self._count("burst_429")
            roll = self._rng.random()
            for kind, rate in (
                ("error", self.error_rate),
                ("timeout", self.timeout_rate),
                ("truncate", self.truncate_rate),
                ("html_404", self.html_404_rate),
            ):
                if roll < rate:
                    return self._count(kind)
                roll -= rate
            return None

    def error_status(self) -> int:
        with self._lock:
            return (500, 502, 503)[self._rng.randrange(3)]

    def _count(self, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "error_rate": self.error_rate,
                "timeout_rate": self.timeout_rate,
                "truncate_rate": self.truncate_rate,
                "html_404_rate": self.html_404_rate,
                "burst_429": self.burst_429,
                "stall_seconds": self.stall_seconds,
                "injected": dict(self.injected),
            }
