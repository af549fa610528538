"""Progress of long work: tqdm bars on a terminal, periodic one-line log messages anywhere else.

Two nested tqdm bars (trials, epochs) garble into one long line in a log file or CI output, so when stderr is
not a terminal ``Progress`` logs one line such as ``sweep t: trials 3/12, epochs 40/120 (33 %), 0:35 elapsed``
at most every ``every_s`` seconds, and once at the end.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counters with totals, e.g. ``Progress("sweep t", {"trials": 12, "epochs": 120}, {"trials": "trial"})``."""

    def __init__(self, desc: str, totals: Mapping[str, int | None], units: Mapping[str, str] | None = None,
                 every_s: float = 30.0, terminal: bool | None = None, initial: Mapping[str, int] | None = None) -> None:
        self.desc, self.totals, self.every_s = desc, dict(totals), every_s
        self.counts = {k: (initial or {}).get(k, 0) for k in totals}
        self.start = self.last = time.monotonic()
        self.bars = {}
        if is_terminal() if terminal is None else terminal:
            from tqdm.auto import tqdm

            for i, (key, total) in enumerate(self.totals.items()):
                self.bars[key] = tqdm(total=total, desc=key if len(totals) > 1 else desc, position=i,
                                      unit=(units or {}).get(key, "it"), initial=self.counts[key])
            if not self.totals:  # nothing to count: the elapsed time of a long tool run
                self.bars[""] = tqdm(desc=desc, bar_format="{desc}: {elapsed} elapsed", leave=False)

    def update(self, key: str, n: int = 1) -> None:
        self.counts[key] += n
        if key in self.bars:
            self.bars[key].update(n)
        elif time.monotonic() - self.last >= self.every_s:
            self._log()

    def refresh(self) -> None:
        """Show the elapsed time while nothing is counted (a terminal bar now, a log line every ``every_s``)."""
        for bar in self.bars.values():
            bar.refresh()
        if not self.bars and time.monotonic() - self.last >= self.every_s:
            self._log()

    def line(self) -> str:
        parts = []
        for key, total in self.totals.items():
            n = self.counts[key]
            parts.append(f"{key} {n}/{total}" + (f" ({100 * n / total:.0f} %)" if total else "") if total is not None
                         else f"{key} {n}")
        return f"{self.desc}: {''.join(p + ', ' for p in parts)}{_clock(time.monotonic() - self.start)} elapsed"

    def _log(self) -> None:
        self.last = time.monotonic()
        log.info("%s", self.line())

    def close(self) -> None:
        if self.bars:
            for bar in self.bars.values():
                bar.close()
            self.bars = {}
        elif self.counts:
            self._log()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
