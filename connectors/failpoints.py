"""A test hook, the only one in product code: GROUNDSWELL_FAILPOINT=<point>:<n> ends the
process, as `kill -9` would, the n-th time a push reaches <point> (for example
`<destination>.after_send:3`). Unset, as in every real run, it does nothing.

Points: <destination>.before_send (the intent is recorded, the request not yet sent),
<destination>.after_send (the platform answered; the answer is not yet recorded),
<destination>.mid_ledger (inside the transaction that records answers), and where a
platform's push has them, <destination>.batch_before_send / .batch_after_send (batches)
and <destination>.tag_after_send (tag creations)."""

from __future__ import annotations

import os
import threading

ENV = "GROUNDSWELL_FAILPOINT"
EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL

_lock = threading.Lock()
_hits: dict[str, int] = {}


def failpoint(point: str) -> None:
    """Die here if GROUNDSWELL_FAILPOINT names this point and its count is reached."""
    setting = os.environ.get(ENV)
    if not setting:
        return
    name, _, count = setting.partition(":")
    if name != point:
        return
    with _lock:
        _hits[point] = _hits.get(point, 0) + 1
        reached = _hits[point] >= int(count or 1)
    if reached:
        os._exit(EXIT_CODE)
