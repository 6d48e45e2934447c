"""The error taxonomy: whose fault a problem is decides the exit code.

- ``UsageError``: the user's input (a scenario, a flag, a profile name) is wrong. Exit 2.
- a failed check is not an exception: it is a result (``harness.results``), and ``run``
  exits 1 when one failed.
- ``InfraError``: the machinery failed (QEMU died, no SSH, a download failed). Exit 125 so
  that ``git bisect run`` skips the commit instead of blaming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.printable import printable

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 125
# `git bisect run` calls every status from 1 to 127 but 125 "bad": a usage error (the same
# on every commit) would blame the oldest commit. With --bisect it aborts the bisect instead.
EXIT_ABORT_BISECT = 128
# A run (or a merge of runs) that judged no case: every case skipped, or none selected.
# Green must mean something was judged; pytest gives 5 for "no tests collected" too. With
# --bisect it is 125 (skip the commit): the scenario does not apply there.
EXIT_NOTHING_JUDGED = 5


@dataclass(frozen=True)
class Located:
    """One problem in an input file, with where it is."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        # A file name can hold anything but "/" and NUL; shown as it is, a terminal would
        # obey the escape sequences in it.
        path = printable(str(self.path))
        where = f"{path}:{self.line}" if self.line is not None else path
        return f"{where}: {self.message}"


class HarnessError(Exception):
    """Base class; ``exit_code`` is what the CLI returns for it."""

    exit_code = EXIT_INFRA


class UsageError(HarnessError):
    """Bad input from the user. Carries every located problem found, not just the first."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: tuple[Located, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    def __str__(self) -> str:
        if not self.problems:
            return super().__str__()
        return "\n".join(str(p) for p in self.problems)


class InfraError(HarnessError):
    """The test machinery failed; the result says nothing about the kernel under test.

    ``log_tail`` is the last lines of the most relevant log and ``log_path`` where the full
    logs are, so the message explains itself without a rerun.
    """

    exit_code = EXIT_INFRA

    def __init__(
        self,
        message: str,
        *,
        log_tail: str = "",
        log_path: Path | None = None,
        command: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.log_path = log_path
        self.command = command

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.command:
            parts.append("command: " + " ".join(self.command))
        if self.log_tail:
            parts.append("log tail:\n" + self.log_tail.rstrip())
        if self.log_path is not None:
            parts.append(f"full logs: {self.log_path}")
        return "\n".join(parts)
