"""Loopback "hosts" for avocado's remote spawner: each an SSH server (dropbear) on its own
loopback address (127.0.0.2, 127.0.0.3, ...), its own Unix user, home, checkout, venv and
image cache, as README's set-up makes a lab machine.

Root only (users are created). The checkout is a copy of this one's files; the venv is
made by ``scripts/setup-host.sh`` run as the host's user; the image cache is seeded with a
copy of this host's built debian-6.1 image set and the package lists it was resolved from,
so a host boots its own L1s from its own cache without downloading a kernel. ``stop()``
kills every process of the host (its server, sessions, runners and QEMUs) and removes
the user and its home: on success, failure, timeout and Ctrl-C alike (a ``finally``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.images import ImageSet
from harness.paths import PROJECT_ROOT, cache_dir

DROPBEAR = Path("/usr/sbin/dropbear")
SETUP_TIMEOUT = 1200  # apt finds nothing to do; pip installs the venv (PyPI)
START_TIMEOUT = 30
STOP_TIMEOUT = 30
# aexpect's default Linux prompt shape, set in the host's login shell.
PROMPT = r"^\[.*\][\#\$]\s*$"
CACHE_PARTS = ("userspace", "keys", "tools")


def missing_prerequisites() -> str:
    """Why these hosts cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "loopback hosts need root (useradd)"
    for tool in (str(DROPBEAR), "ssh", "ssh-keygen", "dropbearkey", "useradd", "userdel"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


def _run(argv: Sequence[str], timeout: float) -> None:
    proc = subprocess.run(list(argv), timeout=timeout, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def _pids_of(uid: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if proc.stat().st_uid == uid:
                    pids.append(int(proc.name))
    return pids


@dataclass
class Host:
    index: int
    user: str
    home: Path
    address: str
    port: int = 0
    server: subprocess.Popen[bytes] | None = None

    @property
    def checkout(self) -> Path:
        return self.home / "pmu-harness"

    @property
    def cache(self) -> Path:
        return self.home / ".cache" / "pmu-harness"

    def slot(self, directory: Path, key: Path) -> Path:
        """The slot file avocado's remote spawner logs in with (aexpect's remote_login)."""
        path = directory / f"slot-{self.index}.json"
        path.write_text(json.dumps({
            "client": "ssh", "host": self.address, "port": str(self.port),
            "username": self.user, "password": "", "prompt": PROMPT,
            "identity_file": str(key)}))
        return path

    def start(self, host_key: Path) -> None:
        self.port = _free_port(self.address)
        log = (self.home.parent / f"dropbear-{self.index}.log").open("ab")
        # Its own session: stop() ends the server and the connections it forked at once.
        self.server = subprocess.Popen(
            [str(DROPBEAR), "-F", "-E", "-s", "-p", f"{self.address}:{self.port}",
             "-r", str(host_key)], stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"dropbear for {self.address} exited {self.server.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.address, self.port), timeout=1):
                return
            time.sleep(0.2)
        raise TimeoutError(f"dropbear on {self.address}:{self.port} did not listen")

    def kill(self) -> None:
        """The host dies: its SSH server and every process of its user, at once."""
        if self.server is not None and self.server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
        with contextlib.suppress(KeyError):
            uid = pwd.getpwnam(self.user).pw_uid
            for pid in _pids_of(uid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.server is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.server.wait(STOP_TIMEOUT)

    def remaining(self) -> list[int]:
        with contextlib.suppress(KeyError):
            return _pids_of(pwd.getpwnam(self.user).pw_uid)
        return []


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=PROJECT_ROOT, capture_output=True, check=True, timeout=60).stdout
    return [name for name in out.decode().split("\0")
            if name and (PROJECT_ROOT / name).is_file()]


def _copy_checkout(target: Path) -> None:
    for name in _tracked_files():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target / name)
        if os.access(PROJECT_ROOT / name, os.X_OK):
            (target / name).chmod(0o755)


def _seed_cache(target: Path, images: ImageSet) -> None:
    """This host's image set and what resolved it (package lists, userspace, keys, tools):
    copies, so each host's cache is its own (a hard link would share inodes, and the
    owner, with this one's)."""
    source = cache_dir()
    shutil.copytree(images.directory, target / "images" / images.directory.name)
    for part in CACHE_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
    # The package lists, not the downloaded packages (the image set is built already).
    shutil.copytree(source / "apt", target / "apt",
                    ignore=shutil.ignore_patterns("archives", "*.deb"))


def _profile(host: Host) -> str:
    # The login shell the spawner gets: the venv's python3 first (it runs
    # `python3 -m harness.avocado_plugins.runner`), in the checkout, with aexpect's prompt.
    return (f'export PATH="{host.checkout}/.venv/bin:$PATH"\n'
            f'cd "{host.checkout}"\n'
            "PS1='[\\u@\\h \\W]\\$ '\n")


def provision(host: Host, job_key: Path, images: ImageSet) -> None:
    """The user, its checkout, cache and venv (README's set-up, run as that user)."""
    _run(["useradd", "--create-home", "--home-dir", str(host.home), "--shell", "/bin/bash",
          "--comment", "pmu-harness loopback test host", host.user], 60)
    _copy_checkout(host.checkout)
    _seed_cache(host.cache, images)
    (host.home / ".profile").write_text(_profile(host))
    ssh = host.home / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "authorized_keys").write_text(Path(f"{job_key}.pub").read_text())
    (ssh / "authorized_keys").chmod(0o600)
    _run(["chown", "-R", f"{host.user}:{host.user}", str(host.home)], 300)
    _run(["su", "-", host.user, "-c", "scripts/setup-host.sh"], SETUP_TIMEOUT)


def remove_host(host: Host) -> None:
    host.kill()
    with contextlib.suppress(subprocess.SubprocessError, OSError, RuntimeError):
        _run(["userdel", "--force", host.user], 60)
    shutil.rmtree(host.home, ignore_errors=True)


@contextlib.contextmanager
def loopback_hosts(count: int, images: ImageSet) -> Iterator[tuple[list[Host], Path]]:
    """``count`` running hosts and the job's private key; all gone afterwards."""
    base = Path(os.environ.get("TMPDIR", "/var/tmp")) / f"pmu-hosts-{secrets.token_hex(3)}"
    base.mkdir(mode=0o755)
    token = secrets.token_hex(2)
    key = base / "job-key"
    hosts: list[Host] = []
    try:
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], 60)
        host_key = base / "host-key"
        _run(["dropbearkey", "-t", "ed25519", "-f", str(host_key)], 60)
        for index in range(1, count + 1):
            user = f"pmuh{token}{index}"
            # Listed before it exists, so a set-up that fails half-way is undone too.
            hosts.append(Host(index, user, base / user, f"127.0.0.{index + 1}"))
            provision(hosts[-1], key, images)
            hosts[-1].start(host_key)
        yield hosts, key
    finally:
        for host in hosts:
            remove_host(host)
        shutil.rmtree(base, ignore_errors=True)
