"""The QEMU command line for L1, split into the part that defines the machine (and so
belongs in a snapshot key) and the part that only wires up one run (fds, paths, ports)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.machine.profile import MachineProfile
from harness.machine.serial import serial_chardev_args, serial_device_args

QEMU_BINARY = "qemu-system-aarch64"
SSH_GUEST_ADDR = "10.0.2.15"
# A marker L1's init prints once dropbear listens; see harness/images.
READY_MARKER = "PMU-HARNESS-L1-READY"

# panic=-1 reboots at once on a panic and -no-reboot turns the reboot into a QEMU exit, so a
# panicking kernel ends the run instead of hanging until a deadline.
BASE_APPEND = ("console=ttyAMA0", "panic=-1", "oops=panic")


@dataclass(frozen=True)
class QemuSpec:
    """Everything that decides what machine QEMU emulates and what it boots."""

    profile: MachineProfile
    kernel: Path
    initrd: Path | None
    kvm_mode: str
    extra_append: tuple[str, ...] = ()
    binary: str = QEMU_BINARY

    def append_line(self) -> str:
        """The kernel command line: console, panic handling, KVM mode, extras."""
        words = list(BASE_APPEND)
        if self.kvm_mode == "nvhe":
            words.append("kvm-arm.mode=nvhe")
        words.extend(self.extra_append)
        return " ".join(words)

    def machine_args(self) -> list[str]:
        """Board, CPU, accelerator, memory: what a snapshot must be restored into."""
        p = self.profile
        # icount needs single-threaded TCG; without it MTTCG uses both host cores.
        accel = "tcg,thread=single" if p.icount else "tcg,thread=multi"
        args = ["-machine", p.machine, "-cpu", p.cpu, "-accel", accel]
        if p.icount:
            args += ["-icount", "shift=0"]
        args += ["-m", str(p.memory_mib), "-smp", str(p.smp)]
        # No default devices (no VGA, no parallel port) and no window: only what we add.
        args += ["-nodefaults", "-display", "none", "-no-reboot"]
        # romfile= because no PXE boot is wanted (and ipxe-qemu may be missing).
        args += ["-device", "virtio-net-pci,netdev=net0,romfile="]
        # Entropy from the host: a kernel without another source (our source-built ones)
        # otherwise initialises its RNG ~5 s after init starts, and dropbear's first key
        # exchange waits for it.
        args += ["-device", "virtio-rng-pci"]
        # The command channel that needs no SSH handshake (harness/machine/serial.py).
        args += serial_device_args()
        return args

    def stable_args(self) -> list[str]:
        """The command line minus per-run parts, with input files named by role only.

        This is what a snapshot key hashes: the files' contents are covered by the image
        set's cache key, their paths are not part of what the machine is.
        """
        args = [self.binary, *self.machine_args(), "-kernel", "<kernel>"]
        if self.initrd is not None:
            args += ["-initrd", "<initrd>"]
        return [*args, "-append", self.append_line()]


@dataclass(frozen=True)
class RunWiring:
    """Per-run parts: where the console goes, the QMP fd, an incoming snapshot."""

    qmp_fd: int
    console_log: Path
    incoming: Path | None = None
    name: str = "pmu-harness-l1"
    # The L0 ends QEMU inherits of the serial command channel (stdin/stdout, stderr); none:
    # the ports' far ends are left unconnected.
    serial_fds: tuple[int, int] | None = None


def option_value(text: object) -> str:
    """A value inside a QEMU ``key=value,...`` option: a comma is written as two."""
    return str(text).replace(",", ",,")


def command_line(spec: QemuSpec, wiring: RunWiring) -> list[str]:
    """The full argv for one run."""
    args = [spec.binary, "-name", option_value(wiring.name), *spec.machine_args()]
    if wiring.incoming is None:
        args += ["-kernel", str(spec.kernel)]
        if spec.initrd is not None:
            args += ["-initrd", str(spec.initrd)]
        args += ["-append", spec.append_line()]
    # A restore takes no kernel, initrd or command line: the saved RAM holds them (and they
    # stay in the snapshot's key, stable_args). Given them, QEMU reads and copies ~180 MB
    # into guest RAM that the state then overwrites: ~0.5 s of QEMU's start and ~1 s of
    # the load, side by side on the shared machine (bench/speed_results.md).
    # The monitor is one end of a socketpair QEMU inherits: no path, no port, no race.
    args += ["-chardev", f"socket,id=qmp,fd={wiring.qmp_fd}", "-mon", "chardev=qmp,mode=control"]
    # The console goes straight to the per-run log; QEMU's own stderr goes elsewhere.
    # Run directories can hold commas (avocado names them after tests: `x[max,6.1,probe]`).
    args += ["-chardev", f"file,id=console,path={option_value(wiring.console_log)}",
             "-serial", "chardev:console"]
    # Host port 0: the kernel picks a free port when QEMU binds, so parallel runs never
    # collide; the port is read back over QMP. 127.0.0.1 only: L1 accepts root by key.
    args += ["-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:0-{SSH_GUEST_ADDR}:22"]
    if wiring.serial_fds is not None:
        args += serial_chardev_args(*wiring.serial_fds)
    else:
        args += ["-chardev", "null,id=cmd", "-chardev", "null,id=err"]
    if wiring.incoming is not None:
        args += ["-incoming", f"file:{wiring.incoming}"]
    return args


@functools.cache
def qemu_version(binary: str = QEMU_BINARY) -> str:
    """`qemu-system-aarch64 --version`'s first line; snapshots are only valid for it."""
    path = shutil.which(binary)
    if path is None:
        raise InfraError(f"{binary} not found on PATH (apt-get install qemu-system-arm)")
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise InfraError(f"could not run {binary} --version: {exc}", command=(path,)) from exc
    return out.stdout.splitlines()[0].strip() if out.stdout else ""


_HOSTFWD = re.compile(r"TCP\[HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s")


def parse_hostfwd_port(info_usernet: str) -> int | None:
    """The host port of the SSH forward in HMP `info usernet` output."""
    match = _HOSTFWD.search(info_usernet)
    return int(match.group(1)) if match else None
