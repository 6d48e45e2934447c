"""SSH to L1 with paramiko: key-only, host key pinned, every step under a deadline."""

from __future__ import annotations

import base64
import contextlib
import logging
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

from harness.errors import InfraError
from harness.machine.shell import PersistentShell, ShellChannel, drain

log = logging.getLogger(__name__)

# Output beyond this is dropped (and flagged): a runaway command must not eat the host's RAM.
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
_CONNECT_TIMEOUT = 10.0
# Errors of the connection phase: the guest's sshd is not (yet) answering. Anything else
# (bad host key, key refused) will not get better by retrying.
_RETRYABLE = (
    OSError,
    EOFError,
    paramiko.SSHException,
)
# Connecting later (after the serial command channel failed): as long as a fresh L1 gets.
_LAZY_CONNECT_TIMEOUT = 60.0
_NOT_RETRYABLE = (paramiko.AuthenticationException, paramiko.BadHostKeyException)
_SftpAction = Callable[[paramiko.SFTPClient], object]


@dataclass(frozen=True)
class RemoteResult:
    """What one remote command did."""

    command: str
    exit_status: int
    stdout: str
    stderr: str
    truncated: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class SshTarget:
    """Where L1's sshd is and how we prove who we are and who it is."""

    host: str
    port: int
    client_key: Path
    host_public_key: str  # "ssh-ed25519 AAAA..."
    user: str = "root"


def _host_key(line: str) -> paramiko.PKey:
    parts = line.split()
    if len(parts) < 2:
        raise InfraError(f"malformed SSH host public key: {line!r}")
    return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))


def _client_key(path: Path) -> paramiko.PKey:
    # Loaded once, outside the retry loop: a missing or bad key will not fix itself.
    try:
        return paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise InfraError(f"cannot load the SSH client key {path}: {exc!r}") from exc


def wrap_remote(command: str, timeout: float) -> str:
    """`command` under the remote `timeout`, so it dies in L1 too when we give up on it.

    KILL after TERM's grace: a command that ignores TERM still ends.
    """
    seconds = max(1, int(timeout))
    return f"timeout -s KILL {seconds} sh -c {shlex.quote(command)}"


class _Bounded:
    """Accumulates a stream up to MAX_OUTPUT_BYTES, remembering whether it dropped any."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk

    def text(self) -> str:
        return self.data.decode(errors="replace")


_START_ATTEMPTS = 5
# What paramiko reports as the exit status of a command whose channel closed without one:
# on a dead connection (dropbear killed) it means the command's end was never seen.
_NO_EXIT_STATUS = -1
# Opening an SFTP session is three round trips; a healthy L1 answers in well under a second.
SFTP_OPEN_TIMEOUT = 60.0


class _Closer(Protocol):
    def close(self) -> None: ...


@contextlib.contextmanager
def closed_at(deadline: float, channel: _Closer) -> Iterator[None]:
    """Close ``channel`` if the block is still running at ``deadline`` (monotonic).

    paramiko waits for the server's reply to an exec or subsystem request on an event with
    no timeout: a wedged L1 (QEMU stopped, dropbear gone) would hold the run forever.
    Closing the channel wakes that wait with an ``SSHException``.
    """
    def close() -> None:
        # On a connection that is already gone, closing says so (EOFError, SSHException):
        # the waiter is woken either way, and an exception in a timer thread has no one
        # to hear it.
        try:
            channel.close()
        except (EOFError, OSError, paramiko.SSHException) as exc:
            log.debug("closing a channel past its deadline: %s", exc)

    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), close)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class SshSession:
    """One authenticated SSH connection to L1, and the way commands reach L1's shell.

    Given a ``commands`` channel (a shell L1 already runs on it: the serial command
    channel, harness/machine/serial.py), commands go there and SSH connects only when
    something needs it (a file copy; a command after that channel failed).
    """

    def __init__(self, target: SshTarget, commands: ShellChannel | None = None) -> None:
        self.target = target
        self._client: paramiko.SSHClient | None = None
        # Commands go to one shell kept running in L1 (harness/machine/shell.py).
        self._shell = PersistentShell(self._start)
        self._channel_shell: PersistentShell | None = None
        if commands is not None:
            handed = commands
            self._channel_shell = PersistentShell(lambda _command, _deadline: handed)
        # Seconds SSH gets to connect when first needed (`connect_when_needed`).
        self._lazy_connect: float | None = None

    # -- connection ------------------------------------------------------------------------

    def connect(self, deadline: float, *, check_channel: bool = True) -> None:
        """Connect and authenticate, retrying connection-phase errors until `deadline`.

        `check_channel=False` skips the trial command: for a caller whose first command
        follows at once, `_start` retries a refused first channel just as well, and a
        restored L1 (whose code QEMU has not translated yet) pays ~0.2 s per round trip.
        """
        pkey = _client_key(self.target.client_key)
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                timeout = min(_CONNECT_TIMEOUT, self._left(deadline))
                self._client = self._connect_once(pkey, timeout)
                if check_channel:
                    self._check_channel(self._left(deadline))
                return
            except _NOT_RETRYABLE as exc:
                self.close()
                raise InfraError(f"SSH to L1 refused: {exc!r}") from exc
            except _RETRYABLE as exc:
                self.close()
                last = exc
                time.sleep(min(0.2, max(self._left(deadline), 0)))
        raise InfraError(
            f"SSH to L1 ({self.target.host}:{self.target.port}) not answering before the "
            f"deadline; last error: {last!r}"
        )

    def connect_when_needed(self, seconds: float) -> None:
        """Connect (within ``seconds``) only when SSH is first needed."""
        self._lazy_connect = seconds

    @property
    def uses_channel(self) -> bool:
        """Whether commands go to the serial command channel (not SSH)."""
        return self._channel_shell is not None

    def _ensure_connected(self) -> None:
        if self._client is None and self._lazy_connect is not None:
            self.connect(time.monotonic() + self._lazy_connect)

    @staticmethod
    def _left(deadline: float) -> float:
        return max(deadline - time.monotonic(), 0.1)

    def _connect_once(self, pkey: paramiko.PKey, timeout: float) -> paramiko.SSHClient:
        t = self.target
        client = paramiko.SSHClient()
        # Only the image's own host key is accepted; anything else is an error, not a prompt.
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key = _host_key(t.host_public_key)
        client.get_host_keys().add(f"[{t.host}]:{t.port}", key.get_name(), key)
        try:
            client.connect(
                t.host,
                port=t.port,
                username=t.user,
                pkey=pkey,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except BaseException:
            client.close()
            raise
        return client

    def _check_channel(self, timeout: float) -> None:
        # A fresh dropbear connection sometimes closes the first channel ("Channel closed");
        # open one here, inside the retry loop, so real commands never see that.
        result = self._exec("true", timeout, MAX_OUTPUT_BYTES)
        if result.exit_status != 0:
            raise paramiko.SSHException(f"probe command failed: {result}")

    def close(self) -> None:
        self._shell.close()
        if self._channel_shell is not None:
            self._channel_shell.close()
            self._channel_shell = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _require(self) -> paramiko.SSHClient:
        if self._client is None:
            raise InfraError("SSH session to L1 is not connected")
        return self._client

    # -- commands --------------------------------------------------------------------------

    def run(
        self,
        command: str,
        timeout: float,
        *,
        check: bool = False,
        max_output: int = MAX_OUTPUT_BYTES,
    ) -> RemoteResult:
        """Run `command` in L1 under a remote timeout and a local deadline.

        `check=True` turns a non-zero exit status into an InfraError (for commands the
        harness itself relies on, not for the system under test).
        """
        start = time.monotonic()
        channel_shell = self._channel_shell
        try:
            if channel_shell is not None:
                with channel_shell.lock:
                    done = channel_shell.run(wrap_remote(command, timeout),
                                             start + timeout + 5, max_output)
            else:
                with self._shell.lock:
                    self._ensure_connected()
                    self._require()
                    done = self._shell.run(wrap_remote(command, timeout),
                                           start + timeout + 5, max_output)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if channel_shell is not None:
                # Its shell's state is unknown now (a command may still run there): the
                # commands that follow go over SSH.
                log.warning("pmu-harness: the serial command channel to L1 failed (%r); "
                            "commands go over SSH from now on", exc)
                channel_shell.close()
                self._channel_shell = None
                self._lazy_connect = self._lazy_connect or _LAZY_CONNECT_TIMEOUT
            over = "the serial command channel" if channel_shell is not None else "SSH"
            raise InfraError(f"command over {over} failed in L1: {command!r}: {exc!r}") \
                from exc
        result = RemoteResult(command, done.exit_status, done.stdout, done.stderr,
                              done.truncated, time.monotonic() - start)
        if check and not result.ok:
            raise InfraError(
                f"command in L1 exited {result.exit_status}: {command!r}",
                log_tail=(result.stdout[-2000:] + result.stderr[-2000:]),
            )
        return result

    def _start(self, command: str, deadline: float) -> paramiko.Channel:
        """Open a channel and start `command` on it.

        dropbear sometimes refuses a new channel ("Unable to open channel") or its exec
        request ("Channel closed"), on fresh connections and, under load, mid-session too.
        A refused request never started the command, so retrying cannot run anything twice;
        after two refusals in a row the connection itself is replaced.
        """
        for attempt in range(_START_ATTEMPTS):
            channel: paramiko.Channel | None = None
            try:
                transport = self._require().get_transport()
                if transport is None:
                    raise paramiko.SSHException("SSH transport is gone")
                channel = transport.open_session(timeout=self._left(deadline))
                channel.settimeout(0.2)
                with closed_at(deadline, channel):
                    channel.exec_command(command)
            except paramiko.SSHException:
                if channel is not None:
                    channel.close()
                if attempt + 1 == _START_ATTEMPTS or time.monotonic() > deadline:
                    raise
                time.sleep(0.2 * (attempt + 1))
                if attempt >= 1:
                    self._reconnect(deadline)
                continue
            return channel
        raise AssertionError("unreachable")

    def _reconnect(self, deadline: float) -> None:
        self.close()
        self.connect(min(deadline, time.monotonic() + 30))

    def _exec(self, command: str, timeout: float, max_output: int) -> RemoteResult:
        start = time.monotonic()
        deadline = start + timeout
        channel = self._start(command, deadline)
        try:
            out, err = _Bounded(max_output), _Bounded(max_output)
            _pump(channel, out, err, deadline, command)
            status = channel.recv_exit_status()
            if status == _NO_EXIT_STATUS and not self._connected():
                raise EOFError("the SSH connection to L1 was lost before the command ended")
        finally:
            channel.close()
        return RemoteResult(
            command, status, out.text(), err.text(), out.truncated or err.truncated,
            time.monotonic() - start,
        )

    # -- files -----------------------------------------------------------------------------

    def put(self, local: Path, remote: str, timeout: float = 300.0) -> None:
        """Copy a local file into L1 (SFTP), keeping its mode."""
        self._sftp(lambda s: s.put(str(local), remote), f"put {local} -> {remote}", timeout)
        self._sftp(lambda s: s.chmod(remote, local.stat().st_mode & 0o7777),
                   f"chmod {remote}", timeout)

    def get(self, remote: str, local: Path, timeout: float = 300.0) -> None:
        """Copy a file out of L1 (SFTP)."""
        self._sftp(lambda s: s.get(remote, str(local)), f"get {remote} -> {local}", timeout)

    def _open_sftp_once(self, deadline: float) -> paramiko.SFTPClient:
        """``SSHClient.open_sftp`` with a deadline on each step: opening the channel,
        starting the subsystem (paramiko waits for that reply with no timeout) and the
        version exchange (a read on the channel, bounded by its timeout)."""
        self._ensure_connected()
        transport = self._require().get_transport()
        if transport is None:
            raise paramiko.SSHException("SSH transport is gone")
        channel = transport.open_session(timeout=self._left(deadline))
        try:
            channel.settimeout(self._left(deadline))
            with closed_at(deadline, channel):
                channel.invoke_subsystem("sftp")
                return paramiko.SFTPClient(channel)
        except BaseException:
            channel.close()
            raise

    def _open_sftp(self, deadline: float) -> paramiko.SFTPClient:
        # Same dropbear refusals as for exec (see _start): opening has no side effect.
        for attempt in range(_START_ATTEMPTS):
            try:
                return self._open_sftp_once(deadline)
            except paramiko.SSHException:
                if attempt + 1 == _START_ATTEMPTS or time.monotonic() > deadline:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _sftp(self, action: _SftpAction, what: str, timeout: float) -> None:
        try:
            sftp = self._open_sftp(time.monotonic() + min(timeout, SFTP_OPEN_TIMEOUT))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"SFTP to L1 failed to open: {exc!r}") from exc
        try:
            # paramiko applies this to every read on the channel: a stalled transfer ends.
            channel = sftp.get_channel()
            if channel is None:  # never for a client made on a channel (_open_sftp_once)
                raise paramiko.SSHException("SFTP client has no channel")
            channel.settimeout(timeout)
            action(sftp)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InfraError(f"SFTP {what} failed: {exc!r}") from exc
        finally:
            sftp.close()


def _pump(
    channel: paramiko.Channel, out: _Bounded, err: _Bounded, deadline: float, command: str
) -> None:
    """Drain stdout and stderr until the command exits or the deadline passes."""
    drain(channel, out, err, deadline, lambda: False, repr(command))
