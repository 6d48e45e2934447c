"""One shell kept running in L1, fed a command at a time over its SSH channel.

Against an L1 under TCG, a new SSH exec costs ~0.15 s before the command even starts
(channel open and exec request round trips, dropbear forking a session and a shell); a
command written to a shell that is already running starts in ~0.02 s. A case runs a few
commands, so this is most of what a case costs beyond the probe's own run.

Each command's end is a line with a random marker, written by the shell after it, on
stdout with the exit status and on stderr alone: nothing the command prints can fake it.
The command's stdin is /dev/null, so it cannot eat the commands that follow it. A shell
that dies, or a command that outlives its deadline, ends the channel; the next command gets
a fresh shell.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Bytes of the tail kept while a runaway command's output is dropped: enough to see the
# marker line when it comes.
_TAIL = 256


@dataclass(frozen=True)
class ShellOutput:
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool


class _Stream:
    """One of the channel's streams until the marker ends it, bounded to ``limit`` bytes."""

    def __init__(self, end: re.Pattern[bytes], limit: int) -> None:
        self.end = end
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()  # beyond the limit: only the last _TAIL bytes
        self.truncated = False
        self.match: re.Match[bytes] | None = None

    def add(self, chunk: bytes) -> None:
        if len(self.head) + len(chunk) <= self.limit and not self.tail:
            self.head += chunk
            self.match = self.end.search(self.head, max(len(self.head) - len(chunk) - _TAIL, 0))
            return
        self.truncated = True
        room = max(self.limit - len(self.head), 0)
        self.head += chunk[:room]
        self.tail = (self.tail + chunk[room:])[-_TAIL:]
        self.match = self.end.search(self.tail)

    def text(self) -> str:
        if self.match is None:
            return self.head.decode(errors="replace")
        if self.tail:
            return self.head.decode(errors="replace")  # the marker is in the dropped part
        return self.head[:self.match.start()].decode(errors="replace")


class ShellChannel(Protocol):
    """What the shell needs of its channel: a paramiko ``Channel`` (SSH) or a
    ``harness.machine.serial.SerialChannel``."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv_ready(self) -> bool: ...
    def recv(self, size: int, /) -> bytes: ...
    def recv_stderr_ready(self) -> bool: ...
    def recv_stderr(self, size: int, /) -> bytes: ...
    def exit_status_ready(self) -> bool: ...
    def recv_exit_status(self) -> int: ...
    def close(self) -> None: ...


class PersistentShell:
    """``sh`` in L1 on one channel. Not for concurrent use: callers hold ``lock``."""

    def __init__(self, start: Callable[[str, float], ShellChannel]) -> None:
        # Opens a channel running a command, under a deadline (SshSession._start), or
        # hands over one already running a shell (the serial channel).
        self._start = start
        self._channel: ShellChannel | None = None
        self.lock = threading.Lock()

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def run(self, command: str, deadline: float, max_output: int) -> ShellOutput:
        """Run ``command`` (already under L1's own ``timeout``); raise TimeoutError past
        ``deadline``, EOFError when the shell went away before the command ended."""
        if self._channel is None or self._channel.exit_status_ready():
            self.close()
            self._channel = self._start("exec sh", deadline)
        channel = self._channel
        marker = f"__pmu_harness_end_{secrets.token_hex(12)}"
        out = _Stream(re.compile(rb"\n" + marker.encode() + rb" (\d+)\n"), max_output)
        err = _Stream(re.compile(rb"\n" + marker.encode() + rb"\n"), max_output)
        # The newline before "}" ends a command that ends in a comment.
        script = (f"{{ {command}\n}} </dev/null; printf '\\n%s %d\\n' {marker} $?; "
                  f"printf '\\n%s\\n' {marker} >&2\n")
        try:
            channel.sendall(script.encode())
            _pump(channel, out, err, deadline)
        except BaseException:
            # Mid-command (timeout, Ctrl-C, a lost connection): the shell's state is unknown.
            self.close()
            raise
        assert out.match is not None
        return ShellOutput(int(out.match.group(1)), out.text(), err.text(),
                           out.truncated or err.truncated)


class Sink(Protocol):
    def add(self, chunk: bytes) -> None: ...


def drain(channel: ShellChannel, out: Sink, err: Sink, deadline: float,
          done: Callable[[], bool], what: str) -> bool:
    """Feed the channel's stdout and stderr to ``out`` and ``err`` until ``done()`` (True)
    or the channel has ended with nothing left to read (False); TimeoutError past
    ``deadline`` (monotonic)."""
    while not done():
        got = False
        if channel.recv_ready():
            out.add(channel.recv(65536))
            got = True
        if channel.recv_stderr_ready():
            err.add(channel.recv_stderr(65536))
            got = True
        if got:
            continue
        if channel.exit_status_ready() and not channel.recv_ready() \
                and not channel.recv_stderr_ready():
            return False
        if time.monotonic() > deadline:
            raise TimeoutError(f"no end of {what} before its deadline")
        # Short: a command in the running shell ends in ~0.02 s, and paramiko's channel
        # has no wait for "either stream readable" to block on.
        time.sleep(0.003)
    return True


def _pump(channel: ShellChannel, out: _Stream, err: _Stream, deadline: float) -> None:
    if not drain(channel, out, err, deadline,
                 lambda: out.match is not None and err.match is not None, "the command"):
        raise EOFError(f"the shell in L1 ended (status {channel.recv_exit_status()}) "
                       f"before the command did")
