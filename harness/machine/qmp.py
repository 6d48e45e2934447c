"""A small synchronous QMP channel on qemu.qmp's QMPClient, with a deadline per call."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable
from typing import Any, TypeVar

from qemu.qmp import QMPClient, QMPError

from harness.errors import InfraError

T = TypeVar("T")


class QmpChannel:
    """QMP over one end of a socketpair whose other end QEMU inherited.

    The harness is synchronous; a private event loop runs each call to completion under
    its own timeout, so a wedged QEMU cannot hang us.
    """

    def __init__(self, sock: socket.socket, name: str = "l1") -> None:
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        self._client = QMPClient(name)
        self._connected = False

    def _run(self, what: str, coro: Awaitable[T], timeout: float) -> T:
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except TimeoutError as exc:
            raise InfraError(f"QMP {what}: no answer within {timeout:.0f} s") from exc
        except (QMPError, OSError, EOFError, RuntimeError) as exc:
            raise InfraError(f"QMP {what} failed: {exc!r}") from exc

    def connect(self, timeout: float) -> None:
        """Read QEMU's greeting and negotiate capabilities."""
        self._run("connect", self._client.connect(self._sock), timeout)
        self._connected = True

    def execute(self, command: str, timeout: float, **arguments: Any) -> Any:
        """Run one QMP command; its "return" value, or InfraError."""
        args = arguments or None
        return self._run(command, self._client.execute(command, args), timeout)

    def hmp(self, command_line: str, timeout: float) -> str:
        """An HMP command through QMP (for what QMP does not offer, e.g. `info usernet`)."""
        out = self.execute("human-monitor-command", timeout, **{"command-line": command_line})
        return str(out)

    def close(self) -> None:
        """Disconnect and close the loop; safe to call twice and after QEMU died."""
        if self._connected:
            self._connected = False
            # QEMU is gone or going; whatever the disconnect says, nothing is left to do.
            with contextlib.suppress(QMPError, OSError, EOFError, TimeoutError, RuntimeError):
                self._loop.run_until_complete(asyncio.wait_for(self._client.disconnect(), 5))
        if not self._loop.is_closed():
            self._loop.close()
        self._sock.close()
