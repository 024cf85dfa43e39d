"""Progress lines on stderr for work that takes more than a moment."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress("baking") as p: p.update(0.5, "keys")`` prints throttled stage/fraction lines."""

    def __init__(self, stage: str, quiet: bool = False):
        self.stage, self.quiet, self._last = stage, quiet, 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def update(self, fraction: float, note: str = "") -> None:
        now = time.perf_counter()
        if self.quiet or (now - self._last < 2.0 and fraction < 1):
            return
        self._last = now
        print(f"[{self.stage}] {100 * fraction:5.1f}% {note}".rstrip(), file=sys.stderr, flush=True)

    def __exit__(self, exc_type, *_):
        if exc_type is None and not self.quiet:
            print(f"[{self.stage}] done in {time.perf_counter() - self._t0:.1f} s", file=sys.stderr, flush=True)
