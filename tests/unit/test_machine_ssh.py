"""SSH helpers that need no server: remote timeout wrapping, bounded output, host keys."""

from __future__ import annotations

import shlex
import socket
import time
from pathlib import Path

import paramiko
import pytest

from harness.errors import InfraError
from harness.machine.ssh import SshSession, SshTarget, _Bounded, _host_key, wrap_remote


def test_wrap_remote_quotes_and_bounds() -> None:
    wrapped = wrap_remote("echo 'a b'; exit 3", 12.7)
    words = shlex.split(wrapped)
    assert words[:4] == ["timeout", "-s", "KILL", "12"]
    assert words[4:6] == ["sh", "-c"]
    assert words[6] == "echo 'a b'; exit 3"
    assert shlex.split(wrap_remote("true", 0.2))[3] == "1"


def test_bounded_output() -> None:
    b = _Bounded(5)
    b.add(b"abc")
    b.add(b"defg")
    b.add(b"h")
    assert b.text() == "abcde" and b.truncated


@pytest.fixture(scope="module")
def rsa_key() -> paramiko.RSAKey:
    return paramiko.RSAKey.generate(1024)


def test_host_key_parses_openssh_line(rsa_key: paramiko.RSAKey) -> None:
    parsed = _host_key(f"{rsa_key.get_name()} {rsa_key.get_base64()} comment")
    assert parsed.get_base64() == rsa_key.get_base64()
    with pytest.raises(InfraError):
        _host_key("garbage")


def test_connect_gives_up_at_the_deadline(tmp_path: Path, rsa_key: paramiko.RSAKey) -> None:
    # Bound but never listening: connection errors are retried until the deadline, then an
    # InfraError names the last one.
    key_file = tmp_path / "id"
    rsa_key.write_private_key_file(str(key_file))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        target = SshTarget("127.0.0.1", port, key_file, f"ssh-rsa {rsa_key.get_base64()}")
        start = time.monotonic()
        with pytest.raises(InfraError, match="not answering"):
            SshSession(target).connect(start + 1.0)
        assert time.monotonic() - start < 30  # 30x the deadline: only a wait ignoring it


def test_missing_client_key_is_not_retried(tmp_path: Path) -> None:
    target = SshTarget("127.0.0.1", 1, tmp_path / "none", "ssh-rsa AAAA")
    start = time.monotonic()
    with pytest.raises(InfraError, match="cannot load the SSH client key"):
        SshSession(target).connect(start + 600)
    # Not retried: it gave up long before a deadline an order of magnitude away.
    assert time.monotonic() - start < 60


def test_run_without_connection_is_infra_error(tmp_path: Path) -> None:
    target = SshTarget("127.0.0.1", 1, tmp_path / "none", "x")
    with pytest.raises(InfraError, match="not connected"):
        SshSession(target).run("true", timeout=1)
