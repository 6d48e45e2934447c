"""A command channel into L1 that needs no SSH: a shell on two virtio-serial ports.

Right after a restore QEMU has translated none of L1's code, and an SSH handshake costs
~0.6-0.9 s before the first command can start. L1's init (guest-images/l1/init) keeps a
shell reading commands from one virtio-serial port and writing its stdout there, its
stderr to a second port; on L0 each port's far end is one end of a socketpair QEMU
inherited (like QMP's). The shell's state is part of the snapshot, so a restored L1
takes its first command the moment it runs again.

``SerialChannel`` gives ``harness.machine.shell.PersistentShell`` the few channel
operations it uses, so commands and their end markers work as over SSH. SSH stays for
what needs it (file copies, interactive shells).
"""

from __future__ import annotations

import select
import socket
from dataclasses import dataclass

# Port names L1's init looks for (/sys/class/virtio-ports/*/name).
COMMAND_PORT = "pmu-harness.cmd"
ERROR_PORT = "pmu-harness.err"
# A command is at most a few kB (files beyond that travel by SFTP): sent in well under
# this unless L1's shell stopped reading.
SEND_TIMEOUT = 30.0


def serial_device_args() -> list[str]:
    """The devices (machine definition: they are in a snapshot's key); the chardevs they
    name are per run (``serial_chardev_args``)."""
    return ["-device", "virtio-serial-pci,id=pmu-harness-serial",
            "-device", f"virtserialport,bus=pmu-harness-serial.0,nr=1,chardev=cmd,"
                       f"name={COMMAND_PORT}",
            "-device", f"virtserialport,bus=pmu-harness-serial.0,nr=2,chardev=err,"
                       f"name={ERROR_PORT}"]


def serial_chardev_args(command_fd: int, error_fd: int) -> list[str]:
    return ["-chardev", f"socket,id=cmd,fd={command_fd}",
            "-chardev", f"socket,id=err,fd={error_fd}"]


@dataclass
class SerialPair:
    """The L0 ends of both ports' socketpairs, and the ends QEMU inherits."""

    command: socket.socket
    error: socket.socket
    command_theirs: socket.socket
    error_theirs: socket.socket

    @classmethod
    def open(cls) -> SerialPair:
        ours_cmd, theirs_cmd = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours_err, theirs_err = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Reads only follow a select that found data; a send into a full socket (a shell
        # that stopped reading) must not wait for ever.
        ours_cmd.settimeout(SEND_TIMEOUT)
        return cls(ours_cmd, ours_err, theirs_cmd, theirs_err)

    def inherited_fds(self) -> list[int]:
        return [self.command_theirs.fileno(), self.error_theirs.fileno()]

    def close_theirs(self) -> None:
        """Once QEMU has its copies: ours would keep the sockets open if QEMU died."""
        self.command_theirs.close()
        self.error_theirs.close()

    def close(self) -> None:
        for sock in (self.command, self.error, self.command_theirs, self.error_theirs):
            sock.close()


class SerialChannel:
    """The shell's stdin/stdout (one socket) and stderr (the other), read without blocking.

    End of either stream (QEMU gone) ends the channel: ``exit_status_ready`` turns true and
    ``recv_exit_status`` is -1, as paramiko says of a channel closed without a status."""

    def __init__(self, pair: SerialPair) -> None:
        self._pair = pair
        self._ended = False
        self._closed = False

    def _ready(self, sock: socket.socket) -> bool:
        if self._closed:
            return False
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)

    def _recv(self, sock: socket.socket, size: int) -> bytes:
        data = sock.recv(size)
        if not data:
            self._ended = True
        return data

    def sendall(self, data: bytes) -> None:
        if self._closed or self._ended:
            raise EOFError("the serial command channel to L1 is closed")
        self._pair.command.sendall(data)

    def recv_ready(self) -> bool:
        return not self._ended and self._ready(self._pair.command)

    def recv(self, size: int) -> bytes:
        return self._recv(self._pair.command, size)

    def recv_stderr_ready(self) -> bool:
        return not self._ended and self._ready(self._pair.error)

    def recv_stderr(self, size: int) -> bytes:
        return self._recv(self._pair.error, size)

    def exit_status_ready(self) -> bool:
        return self._ended or self._closed

    def recv_exit_status(self) -> int:
        return -1

    def close(self) -> None:
        # The sockets stay open (QEMU's end of the port stays connected): a shell that
        # failed mid-command is not used again (see SshSession), L1Machine closes them.
        self._closed = True
