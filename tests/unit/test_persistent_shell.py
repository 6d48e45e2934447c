"""The persistent shell's protocol against a real ``sh`` on this host, behind an object with
the few methods of a paramiko channel it uses: where a command's output ends, its exit
status, that it cannot read the commands after it, bounded output, a dead shell, a deadline.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from typing import IO, Any, cast

import paramiko
import pytest

from harness.machine.shell import PersistentShell


class LocalChannel:
    """``sh -c <command>`` on this host, read like a paramiko channel."""

    def __init__(self, command: str) -> None:
        self.process = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffers = {"out": bytearray(), "err": bytearray()}
        self.lock = threading.Lock()
        self.readers = [self._reader(self.process.stdout, "out"),
                        self._reader(self.process.stderr, "err")]

    def _reader(self, stream: IO[bytes] | None, name: str) -> threading.Thread:
        def read() -> None:
            assert isinstance(stream, io.BufferedReader)  # Popen's pipe, buffered: read1
            while chunk := stream.read1(65536):
                with self.lock:
                    self.buffers[name] += chunk
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def _take(self, name: str, size: int) -> bytes:
        with self.lock:
            data = bytes(self.buffers[name][:size])
            del self.buffers[name][:size]
        return data

    def sendall(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def recv_ready(self) -> bool:
        return bool(self.buffers["out"])

    def recv(self, size: int) -> bytes:
        return self._take("out", size)

    def recv_stderr_ready(self) -> bool:
        return bool(self.buffers["err"])

    def recv_stderr(self, size: int) -> bytes:
        return self._take("err", size)

    def exit_status_ready(self) -> bool:
        # A channel reports its exit only once everything before it has been read.
        return self.process.poll() is not None and not any(r.is_alive() for r in self.readers)

    def recv_exit_status(self) -> int:
        return self.process.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Opener:
    def __init__(self) -> None:
        self.channels: list[LocalChannel] = []

    def __call__(self, command: str, deadline: float) -> paramiko.Channel:
        self.channels.append(LocalChannel(command))
        return cast(paramiko.Channel, self.channels[-1])


@pytest.fixture()
def shell() -> Any:
    opener = Opener()
    shell = PersistentShell(opener)
    yield shell, opener
    shell.close()


def run(shell: PersistentShell, command: str, seconds: float = 10.0,
        limit: int = 1 << 20) -> Any:
    return shell.run(command, time.monotonic() + seconds, limit)


def test_output_status_and_stderr_of_each_command_apart(shell: Any) -> None:
    sh, opener = shell
    first = run(sh, "echo one; echo warn >&2; exit_with() { return $1; }; exit_with 3")
    assert (first.exit_status, first.stdout, first.stderr) == (3, "one\n", "warn\n")
    second = run(sh, "printf 'no newline at the end'")
    assert (second.exit_status, second.stdout, second.stderr) == (0, "no newline at the end", "")
    assert len(opener.channels) == 1  # one shell for both


def test_a_command_cannot_read_the_commands_after_it(shell: Any) -> None:
    sh, _ = shell
    assert run(sh, "cat; echo read-nothing").stdout == "read-nothing\n"
    assert run(sh, "echo still-here").stdout == "still-here\n"


def test_output_that_looks_like_an_end_marker_does_not_end_it(shell: Any) -> None:
    sh, _ = shell
    fake = "\n__pmu_harness_end_000000000000000000000000 0\n"
    result = run(sh, f"printf %s '{fake}'; echo after")
    assert result.stdout == fake + "after\n"


def test_a_comment_at_the_end_does_not_swallow_the_marker(shell: Any) -> None:
    sh, _ = shell
    assert run(sh, "echo x # a comment").stdout == "x\n"


def test_output_beyond_the_limit_is_dropped_and_flagged(shell: Any) -> None:
    sh, _ = shell
    result = run(sh, "yes 0123456789 | head -c 300000", limit=1000)
    assert result.truncated and len(result.stdout) == 1000
    assert result.exit_status == 0
    assert run(sh, "echo next").stdout == "next\n"  # the shell is still in step


def test_a_shell_that_dies_is_an_eof_and_the_next_command_gets_a_new_one(shell: Any) -> None:
    sh, opener = shell
    with pytest.raises(EOFError):
        run(sh, "exit 7")
    assert run(sh, "echo again").stdout == "again\n"
    assert len(opener.channels) == 2


def test_a_command_past_its_deadline_ends_the_shell(shell: Any) -> None:
    sh, opener = shell
    with pytest.raises(TimeoutError):
        run(sh, "sleep 30", seconds=0.5)
    assert opener.channels[0].process.poll() is not None  # killed, not left running
    assert run(sh, "echo fresh").stdout == "fresh\n"
