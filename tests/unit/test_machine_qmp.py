"""QmpChannel against a fake QMP server on a socketpair: commands, errors, deadlines."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.errors import InfraError
from harness.machine.qmp import QmpChannel

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 10},
                                "package": ""}, "capabilities": []}}


def _messages(sock: socket.socket) -> Iterator[dict[str, Any]]:
    # qemu.qmp sends JSON objects without newlines: decode them from the raw stream.
    decoder = json.JSONDecoder()
    buffer = ""
    while chunk := sock.recv(4096):
        buffer += chunk.decode()
        while buffer.strip():
            try:
                msg, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                break
            buffer = buffer.lstrip()[end:]
            yield msg


def _serve(sock: socket.socket, silent_for: set[str]) -> None:
    stream = sock.makefile("w")
    stream.write(json.dumps(GREETING) + "\n")
    stream.flush()
    for msg in _messages(sock):
        name = msg["execute"]
        if name in silent_for:
            continue
        if name == "boom":
            reply = {"error": {"class": "GenericError", "desc": "no"}, "id": msg.get("id")}
        else:
            reply = {"return": {"echo": name, **msg.get("arguments", {})}, "id": msg.get("id")}
        try:
            stream.write(json.dumps(reply) + "\n")
            stream.flush()
        except BrokenPipeError:
            break
        if name == "quit":
            break
    sock.close()


@pytest.fixture
def channel() -> Iterator[QmpChannel]:
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=_serve, args=(theirs, {"hang"}), daemon=True)
    server.start()
    qmp = QmpChannel(ours)
    qmp.connect(5)
    yield qmp
    qmp.close()


def test_execute_returns_the_return_value(channel: QmpChannel) -> None:
    assert channel.execute("query-status", 5) == {"echo": "query-status"}
    assert channel.execute("migrate", 5, uri="file:/x") == {"echo": "migrate", "uri": "file:/x"}
    assert "human-monitor-command" in channel.hmp("info usernet", 5)


def test_qmp_error_is_infra_error(channel: QmpChannel) -> None:
    with pytest.raises(InfraError, match="QMP boom failed"):
        channel.execute("boom", 5)


def test_no_answer_hits_the_deadline(channel: QmpChannel) -> None:
    start = time.monotonic()
    with pytest.raises(InfraError, match="no answer within"):
        channel.execute("hang", 0.3)
    # The message is the evidence the deadline fired; the bound (100x the deadline) only
    # catches a wait that ignores it, whatever the host's load.
    assert time.monotonic() - start < 30


def test_connect_to_dead_peer_fails_fast() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    qmp = QmpChannel(ours)
    with pytest.raises(InfraError):
        qmp.connect(5)
    qmp.close()
    qmp.close()
