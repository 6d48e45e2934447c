"""Progress of a long kernel build: the front end's live status line where it draws one
(stage, elapsed time, objects built: ``harness.status``), one log line per stage elsewhere,
nothing with ``--quiet``."""

from __future__ import annotations

import logging
import time

from harness import status

log = logging.getLogger(__name__)


class Progress:
    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.tty = enabled and status.live()
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
            status.clear()
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
        status.update(f"pmu-harness: {self.label}: {self._stage} "
                      f"[{self._elapsed():.0f} s{objects}]")
