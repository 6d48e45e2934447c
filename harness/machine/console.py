"""The serial console log: wait for markers, recognise a kernel that died on the way."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.health import first_dying_line, has_dying_hint

# How much of the console after the first sign of death goes into the error.
_EVIDENCE_LINES = 40
# After a panic starts printing, give the kernel this long to finish its backtrace (with
# panic=-1 and -no-reboot QEMU exits right after).
_PANIC_DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class Fatal:
    """The first sign of a dead kernel in a console log."""

    kind: str
    line: str
    evidence: str


def find_fatal(text: str) -> Fatal | None:
    """The earliest panic/oops/BUG in `text`, with the lines around it as evidence: a kernel
    that prints one will not reach the marker, so say so at once rather than sit out the
    deadline. The headlines are the kernel-health parser's (``health.first_dying_line``)."""
    if not has_dying_hint(text):
        return None
    lines = text.splitlines()
    found = first_dying_line(lines)
    if found is None:
        return None
    index, kind = found
    # A few lines before (the oops header often precedes the panic line) and many after.
    evidence = "\n".join(lines[max(index - 5, 0):index + _EVIDENCE_LINES])
    return Fatal(kind=f"kernel {kind.value}", line=lines[index].strip(), evidence=evidence)


class ConsoleLog:
    """Reads a console log file as it grows; QEMU writes it, we only read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.text = ""

    def poll(self) -> str:
        """Read whatever was appended since the last call; returns the new text."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return ""
        self._offset += len(chunk)
        new = chunk.decode(errors="replace")
        self.text += new
        return new

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text.splitlines()[-lines:])

    def wait_for(
        self, marker: str, deadline: float, alive: Callable[[], bool], interval: float = 0.05
    ) -> None:
        """Return once `marker` is on the console.

        Raises InfraError when the kernel dies (panic, oops), when QEMU exits, or at the
        deadline (a monotonic time) — each with the console tail as evidence.
        """
        while True:
            self.poll()
            if marker in self.text:
                return
            fatal = find_fatal(self.text)
            if fatal is not None:
                self._drain(alive)
                raise self._fatal_error(find_fatal(self.text) or fatal)
            if not alive():
                self.poll()
                raise InfraError(
                    f"QEMU exited before {marker!r} appeared on the console",
                    log_tail=self.tail(),
                    log_path=self.path,
                )
            if time.monotonic() >= deadline:
                raise InfraError(
                    f"timed out waiting for {marker!r} on the console",
                    log_tail=self.tail(),
                    log_path=self.path,
                )
            time.sleep(interval)

    def _drain(self, alive: Callable[[], bool]) -> None:
        end = time.monotonic() + _PANIC_DRAIN_SECONDS
        while alive() and time.monotonic() < end:
            time.sleep(0.1)
        self.poll()

    def _fatal_error(self, fatal: Fatal) -> InfraError:
        return InfraError(
            f"L1 {fatal.kind} during boot: {fatal.line}",
            log_tail=fatal.evidence,
            log_path=self.path,
        )
