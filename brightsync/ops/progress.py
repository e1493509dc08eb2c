"""Progress of a long (first) sync: records seen, done, left and an estimate of time left."""

from __future__ import annotations

from typing import Any


def progress(seen: int, done: int, total: int | None, elapsed: float) -> dict[str, Any]:
    """What `sync_state.progress` shows. `total` None: the size is not known yet (email
    delta pages carry no count), so nothing is left to estimate."""
    left = None if total is None else max(0, total - done)
    eta = None
    if left is not None and done > 0 and elapsed > 0:
        eta = round(elapsed / done * left, 1)
    return {"seen": seen, "done": done, "left": left, "etaSeconds": eta}
