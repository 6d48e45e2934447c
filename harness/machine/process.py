"""Launch QEMU and make sure it is reaped: gracefully if possible, by force if not."""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import InfraError

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when the thread that started it
    ends, however it ends (even SIGKILL, where no finally block runs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: no orphan QEMU keeps a port and 3 GiB.
    parent_death_signal(signal.SIGKILL)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or "" if it does not exist (yet)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class QemuProcess:
    """One QEMU process: started in its own session, stderr to a log, always reaped."""

    def __init__(self, argv: Sequence[str], log: Path, pass_fds: Sequence[int] = ()) -> None:
        self.argv = tuple(argv)
        self.log = log
        self._pass_fds = tuple(pass_fds)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        with self.log.open("ab") as log:
            try:
                # Own session: a Ctrl-C on the terminal reaches the harness only, which then
                # shuts QEMU down in order (QMP quit) instead of QEMU dying mid-write.
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=self._pass_fds,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # only prctl: no locks, safe after fork
                )
            except OSError as exc:
                raise InfraError(f"could not start QEMU: {exc}", command=self.argv) from exc

    def returncode(self) -> int | None:
        """The exit status if QEMU has exited (reaping it), else None."""
        return self._proc.poll() if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds; the exit status, or None if still running."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, graceful: Callable[[], None] | None = None, timeout: float = 10.0) -> None:
        """Ask nicely (`graceful`, e.g. QMP quit), then SIGTERM, then SIGKILL; always reap."""
        if self._proc is None:
            return
        steps: list[Callable[[], None]] = []
        if graceful is not None:
            steps.append(graceful)
        steps += [self._proc.terminate, self._proc.kill]
        for step in steps:
            if self._proc.poll() is not None:
                return
            # Whatever a step fails with, the next, harder step follows; the failure is
            # logged, so a QMP quit that did not work leaves a trace.
            try:
                step()
            except (OSError, InfraError, RuntimeError) as exc:
                log.warning("stopping QEMU (pid %s): %s failed: %s; trying harder", self.pid,
                            getattr(step, "__name__", "a step"), exc)
            if self.wait(timeout) is not None:
                return
        # SIGKILL cannot be ignored; this only waits out the kernel tearing QEMU down. A
        # process stuck in the kernel (uninterruptible sleep) can outlast even that: say so
        # and go on, rather than turn clean-up into a new error that hides the first.
        if self.wait(timeout) is None:
            log.warning("QEMU (pid %s) still not reaped %.0f s after SIGKILL", self.pid,
                        timeout)

    def failure(self, message: str, console: Path) -> InfraError:
        """An InfraError that explains itself: command, exit status, console and QEMU log."""
        status = self.returncode()
        text = f"{message} (QEMU exit status {status})" if status is not None else message
        log_tail = "\n".join(
            part
            for part in (tail(self.log, 10), tail(console, 40))
            if part
        )
        return InfraError(text, log_tail=log_tail, log_path=console.parent, command=self.argv)

