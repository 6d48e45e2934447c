"""Progress of a long kernel build: a live status line on a terminal (stage, elapsed time,
objects built), one line per stage elsewhere, nothing with ``--quiet``."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self._stage = ""
        self._objects = 0
        self._shown = 0.0

    def stage(self, name: str) -> None:
        self._stage, self._objects = name, 0
        if self.tty:
            self._draw(force=True)
        elif self.enabled:
            log.info("pmu-harness: %s: %s (%.0f s)", self.label, name, self._elapsed())

    def object_built(self) -> None:
        self._objects += 1
        if self.tty:
            self._draw(force=False)

    def done(self, message: str) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
        if self.enabled:
            log.info("pmu-harness: %s: %s", self.label, message)

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._shown < 0.5:
            return
        self._shown = now
        objects = f", {self._objects} objects" if self._objects else ""
        sys.stderr.write(f"\r\033[Kpmu-harness: {self.label}: {self._stage} "
                         f"[{self._elapsed():.0f} s{objects}]")
        sys.stderr.flush()
