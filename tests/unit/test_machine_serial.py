"""The serial command channel against a real ``sh`` on this host, wired as L1's init wires
it (stdin and stdout on one socket, stderr on the other): the persistent shell's protocol
over it, SshSession sending commands there without any SSH connection, the switch to SSH
when the channel fails, and the QEMU arguments that make the ports."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.machine.profile import load_machine_profile
from harness.machine.qemu import QemuSpec, RunWiring, command_line
from harness.machine.serial import COMMAND_PORT, ERROR_PORT, SerialChannel, SerialPair
from harness.machine.shell import PersistentShell
from harness.machine.ssh import SshSession, SshTarget


@pytest.fixture
def wired() -> Iterator[tuple[SerialPair, subprocess.Popen[bytes]]]:
    pair = SerialPair.open()
    shell = subprocess.Popen(["sh"], stdin=pair.command_theirs.fileno(),
                             stdout=pair.command_theirs.fileno(),
                             stderr=pair.error_theirs.fileno())
    pair.close_theirs()
    try:
        yield pair, shell
    finally:
        shell.kill()
        shell.wait(10)
        pair.close()


def _target(tmp_path: Path) -> SshTarget:
    # Nothing listens there: a session that tried SSH would fail.
    return SshTarget("127.0.0.1", 9, tmp_path / "no-key", "ssh-ed25519 AAAA")


def test_commands_run_over_the_channel(
        wired: tuple[SerialPair, subprocess.Popen[bytes]]) -> None:
    pair, _ = wired
    shell = PersistentShell(lambda _c, _d: SerialChannel(pair))
    first = shell.run("echo out; echo err >&2; exit_code=3; (exit $exit_code)",
                      time.monotonic() + 30, 1 << 20)
    assert (first.exit_status, first.stdout, first.stderr) == (3, "out\n", "err\n")
    # The same shell: state set by one command is seen by the next.
    shell.run("x=kept", time.monotonic() + 30, 1 << 20)
    assert shell.run("echo $x", time.monotonic() + 30, 1 << 20).stdout == "kept\n"


def test_ssh_session_uses_the_channel_without_connecting(
        tmp_path: Path, wired: tuple[SerialPair, subprocess.Popen[bytes]]) -> None:
    pair, _ = wired
    session = SshSession(_target(tmp_path), commands=SerialChannel(pair))
    session.connect_when_needed(1.0)
    result = session.run("printf '%s' hello", timeout=30, check=True)
    assert result.stdout == "hello" and session.uses_channel
    session.close()


def test_a_dead_channel_hands_commands_to_ssh(
        tmp_path: Path, wired: tuple[SerialPair, subprocess.Popen[bytes]]) -> None:
    pair, shell = wired
    session = SshSession(_target(tmp_path), commands=SerialChannel(pair))
    session.connect_when_needed(1.0)
    shell.kill()
    shell.wait(10)
    with pytest.raises(InfraError, match="command over the serial command channel failed in L1"):
        session.run("true", timeout=30)
    assert not session.uses_channel
    # The next command needs SSH, whose key does not even exist here.
    with pytest.raises(InfraError, match="SSH client key"):
        session.run("true", timeout=30)


def test_the_ports_are_machine_and_their_sockets_are_per_run() -> None:
    p = load_machine_profile("max")
    spec = QemuSpec(p, Path("/k/Image"), None, "vhe")
    stable = " ".join(spec.stable_args())
    assert f"name={COMMAND_PORT}" in stable and f"name={ERROR_PORT}" in stable
    assert "fd=" not in stable
    wired = " ".join(command_line(spec, RunWiring(3, Path("/c"), serial_fds=(8, 9))))
    assert "socket,id=cmd,fd=8" in wired and "socket,id=err,fd=9" in wired
    unwired = " ".join(command_line(spec, RunWiring(3, Path("/c"))))
    assert "null,id=cmd" in unwired and "null,id=err" in unwired


def test_a_shell_that_stops_reading_cannot_hold_a_send() -> None:
    pair = SerialPair.open()
    try:
        pair.command.settimeout(0.5)  # SEND_TIMEOUT, shortened for the test
        channel = SerialChannel(pair)
        # Nobody reads the far end: the socket's buffer fills and the send gives up.
        with pytest.raises(TimeoutError):
            channel.sendall(b"x" * (16 << 20))
    finally:
        pair.close()
