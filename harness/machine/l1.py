"""L1Machine: one L1's whole life — launch or restore, health, SSH, shutdown, reaping."""

from __future__ import annotations

import enum
import json
import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from harness.errors import InfraError
from harness.images.kinds import l1_command_line
from harness.machine.console import ConsoleLog
from harness.machine.facts import L1Facts, check_health, facts_from_json, gather_facts
from harness.machine.process import QemuProcess
from harness.machine.profile import MachineProfile
from harness.machine.qemu import (
    READY_MARKER,
    QemuSpec,
    RunWiring,
    command_line,
    parse_hostfwd_port,
    qemu_version,
)
from harness.machine.qmp import QmpChannel
from harness.machine.serial import COMMAND_PORT, SerialChannel, SerialPair
from harness.machine.snapshot import (
    Snapshot,
    SnapshotInputs,
    SnapshotStore,
    after_restore_command,
    file_identity,
    needs_timer_rearm,
    snapshot_keeps_timers,
    wait_incoming,
)
from harness.machine.ssh import SshSession, SshTarget

log = logging.getLogger(__name__)

QMP_CONNECT_TIMEOUT = 30.0
RESTORE_LOAD_TIMEOUT = 120.0
# After the console marker, dropbear already listens; SSH gets a short deadline of its own.
SSH_READY_TIMEOUT = 60.0
QUIT_TIMEOUT = 10.0
# Readying a restored L1 (on VHE its timers re-armed by CPU hotplug, then a sleep on each
# CPU; the clock set): well under 1 s.
AFTER_RESTORE_TIMEOUT = 10.0
# L1's init starts the serial channel's shell beside dropbear: by the time SSH answers it
# has long been there, and a kernel without the ports never gets one.
SERIAL_CHECK_TIMEOUT = 5.0
SERIAL_PORTS_CHECK = f"grep -qx {COMMAND_PORT} /sys/class/virtio-ports/*/name"
# A secondary CPU that can be taken offline (the re-arm's means; see snapshot.py).
HOTPLUG_CHECK = "[ -w /sys/devices/system/cpu/cpu1/online ]"


_ATTEMPT_LOG = re.compile(r"(?:command|console|qemu)-([0-9]+)-")


@dataclass(frozen=True)
class SaveStep:
    """A command run in a cold-booted L1 just before it is saved, so that every restore
    starts with its work done (kmemleak's first scans: seconds under TCG, paid once per
    snapshot instead of once per L1). Whoever needs its effect runs it again after the
    restore (a snapshot may have been saved without it), so it must be idempotent and
    cheap the second time; a step that fails keeps the L1 from being saved."""

    command: str
    timeout: float


def last_attempt(directory: Path) -> int:
    """The highest attempt number among the L1 logs in ``directory`` (0: none yet)."""
    numbers = [int(match.group(1)) for path in directory.glob("*")
               if (match := _ATTEMPT_LOG.match(path.name))]
    return max(numbers, default=0)


class L1Images(Protocol):
    """What L1 needs from an image set (harness.images.ImageSet has all of it)."""

    @property
    def kernel_profile(self) -> str: ...
    @property
    def kernel_image(self) -> Path: ...
    @property
    def l1_initrd(self) -> Path: ...
    @property
    def ssh_client_key(self) -> Path: ...
    @property
    def ssh_host_public_key(self) -> str: ...
    @property
    def cache_key(self) -> str: ...


class BootMode(enum.StrEnum):
    COLD = "cold"
    RESTORED = "restored"


@dataclass
class _Running:
    """One launched QEMU and the channels to it; a machine has at most one at a time."""

    process: QemuProcess
    qmp: QmpChannel
    console: ConsoleLog
    serial: SerialPair


class L1Machine:
    """An L1 machine used as a context manager::

        with L1Machine(images, profile, run_dir) as l1:
            l1.ssh.run("uname -r", timeout=30)

    On entry it restores a saved booted state (when one matches and `snapshots` is on) or
    boots cold (and saves one); either way L1's health is checked before it is handed out.
    On exit — normal, error, KeyboardInterrupt (SIGINT and the CLI's SIGTERM) — QEMU gets a
    QMP `quit`, then SIGTERM, then SIGKILL, and is reaped.
    """

    def __init__(
        self,
        images: L1Images,
        profile: MachineProfile,
        run_dir: Path,
        *,
        kvm_mode: str | None = None,
        snapshots: bool = True,
        boot_timeout: float = 300.0,
        extra_append: tuple[str, ...] = (),
        store: SnapshotStore | None = None,
        check_health: bool = True,
        before_save: tuple[SaveStep, ...] = (),
    ) -> None:
        self.images = images
        self.profile = profile
        self.kvm_mode = profile.resolve_kvm_mode(kvm_mode)
        self.run_dir = run_dir / "l1"
        # A restored single-CPU VHE L1 would have no working timer (see snapshot.py).
        self.snapshots = snapshots and snapshot_keeps_timers(self.kvm_mode, profile.smp)
        self.boot_timeout = boot_timeout
        self.store = store if store is not None else SnapshotStore()
        self._check_health = check_health
        self.before_save = before_save
        self.spec = QemuSpec(
            profile=profile,
            kernel=images.kernel_image,
            initrd=images.l1_initrd,
            kvm_mode=self.kvm_mode,
            # The kernel profile's own words first (configs/kernels: `l1_command_line`).
            extra_append=(*l1_command_line(images.kernel_profile), *extra_append),
        )
        self.boot_mode: BootMode | None = None
        self.boot_seconds: float | None = None
        self.save_seconds: float | None = None
        # Seconds per boot phase, for reports and benchmarks.
        self.timings: dict[str, float] = {}
        # Whether a restore re-armed L1's timers by CPU hotplug (VHE only).
        self.timers_rearmed = False
        self._running: _Running | None = None
        self._ssh: SshSession | None = None
        # What L1 reported when it came up (kept: it does not change while L1 runs).
        self._facts: L1Facts | None = None
        self._attempt = 0
        # Whether L1's shell on the serial command channel answered (cold boot).
        self._serial_works = False

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> L1Machine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def start(self) -> None:
        """Restore or cold-boot L1 to SSH-ready and healthy; on any failure, clean up."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            inputs = self.snapshot_inputs() if self.snapshots else None
            snap = self.store.lookup(inputs) if inputs is not None else None
            if snap is None or not self._try_restore(snap):
                self._cold_boot(inputs)
            # Ready for the first case: booted or restored, checked, (saved).
            self._mark("ready", started)
            self._record_boot()
        except OSError as exc:
            # The run directory's disk is full (or gone): the machinery failed, not L1.
            self.shutdown()
            raise InfraError(f"L1 could not be started: {exc}", log_path=self.run_dir) from exc
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        """Stop everything this machine started. Safe to call more than once."""
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None
        running, self._running = self._running, None
        if running is None:
            return
        try:
            running.process.stop(graceful=lambda: self._quit(running), timeout=QUIT_TIMEOUT)
        finally:
            running.qmp.close()
            running.serial.close()

    @staticmethod
    def _quit(running: _Running) -> None:
        running.qmp.execute("quit", QUIT_TIMEOUT)

    # -- public API ----------------------------------------------------------------------------

    @property
    def ssh(self) -> SshSession:
        if self._ssh is None:
            raise InfraError("L1 is not running (use L1Machine as a context manager)")
        return self._ssh

    @property
    def console_log(self) -> Path | None:
        return self._running.console.path if self._running else None

    def facts(self) -> L1Facts:
        """Kernel, KVM mode, PMU as L1 reported them when it came up: gathered once (one
        SSH round trip), or for a restored L1 those its snapshot was saved with."""
        if self._facts is None:
            self._facts = gather_facts(self.ssh)
        return self._facts

    def snapshot_inputs(self) -> SnapshotInputs:
        return SnapshotInputs(
            images_cache_key=self.images.cache_key,
            kernel_profile=self.images.kernel_profile,
            machine_profile=self.profile.name,
            machine_fingerprint=self.profile.fingerprint(),
            kvm_mode=self.kvm_mode,
            qemu_version=qemu_version(self.spec.binary),
            command_line=tuple(self.spec.stable_args()),
            boot_files=(file_identity(self.images.kernel_image),
                        file_identity(self.images.l1_initrd)),
        )

    # -- cold boot and restore -------------------------------------------------------------

    def _cold_boot(self, inputs: SnapshotInputs | None) -> None:
        started = time.monotonic()
        deadline = started + self.boot_timeout
        running = self._launch("cold", incoming=None)
        self._mark("qmp", started)
        running.console.wait_for(READY_MARKER, deadline, running.process.running)
        self._mark("marker", started)
        self._connect_ssh(running, min(deadline, time.monotonic() + SSH_READY_TIMEOUT))
        self.boot_seconds = self._mark("ssh", started)
        self.boot_mode = BootMode.COLD
        self._serial_works = self._try_channel(running)
        self._verify()
        if inputs is not None and self._restorable() and self._steps_done():
            self._save(running, inputs)

    def _try_restore(self, snap: Snapshot) -> bool:
        """Restore `snap`; on failure drop it (it is rebuilt by the cold boot that follows)."""
        started = time.monotonic()
        try:
            running = self._launch("restore", incoming=snap.state)
            self._mark("qmp", started)
            wait_incoming(running.qmp, RESTORE_LOAD_TIMEOUT)
            self._mark("loaded", started)
            running.qmp.execute("cont", 30)
            if snap.meta().get("serial_shell") is True:
                # L1's shell on the serial channel was saved waiting for a command: no
                # handshake before the first one; SSH connects when something needs it.
                self._open_channel(running)
            else:
                # No trial command: the after-restore command right below is the first,
                # and retries a refused channel itself.
                self._connect_ssh(running, time.monotonic() + SSH_READY_TIMEOUT,
                                  check_channel=False)
                self._mark("ssh", started)
            # One round trip: on VHE the timer re-arm (an nVHE L1's timers survive the
            # restore, and the hotplug would break its CPU 1: see needs_timer_rearm), the
            # clock, /dev/kvm.
            self.timers_rearmed = needs_timer_rearm(self.kvm_mode)
            self.ssh.run(after_restore_command(self.kvm_mode, time.time()),
                         timeout=AFTER_RESTORE_TIMEOUT, check=True)
            self.boot_seconds = self._mark("settled", started)
            self.boot_mode = BootMode.RESTORED
            # The facts were gathered and checked in this very L1 before it was saved;
            # gathering them again (dmesg, sysfs) would cost a second under a cold TCG.
            self._facts = self._saved_facts(snap)
            self._verify()
            self.store.touch(snap.key)
        except InfraError as exc:
            log.warning("pmu-harness: snapshot %s did not restore, rebuilding: %s", snap.key,
                        str(exc).splitlines()[0])
            self.shutdown()
            self.store.drop(snap.key)
            self._facts, self.timers_rearmed = None, False
            return False
        return True

    def _restorable(self) -> bool:
        """Whether a restore of this L1 could get its timers back: on VHE that takes
        hotplugging a secondary CPU, which a kernel built without CONFIG_HOTPLUG_CPU cannot
        do (a user's own config; configs/kconfig/kvm-host.config asks for it); its restore
        would stall CPU 1 and fail after the re-arm's deadline, every time. Such an L1 is
        not saved: it boots cold."""
        if not needs_timer_rearm(self.kvm_mode):
            return True
        found = self.ssh.run(HOTPLUG_CHECK, timeout=30)
        if found.exit_status != 0:
            log.warning("pmu-harness: no L1 snapshot for this kernel: it cannot hotplug a "
                        "CPU, which a restored VHE L1 needs to re-arm its timers")
        return found.exit_status == 0

    def _steps_done(self) -> bool:
        """Run the steps that go into the snapshot; False (do not save) if one failed."""
        for step in self.before_save:
            done = self.ssh.run(step.command, timeout=step.timeout)
            if done.exit_status != 0:
                log.warning("pmu-harness: no L1 snapshot: a step before saving failed "
                            "(exit %d): %s", done.exit_status, done.stderr.strip()[-300:])
                return False
        return True

    def _save(self, running: _Running, inputs: SnapshotInputs) -> None:
        # No open SSH connection goes into the snapshot: a restored L1 would hold a stale one.
        self.ssh.close()
        self._ssh = None
        started = time.monotonic()
        try:
            extra: dict[str, object] = {"boot_seconds": self.boot_seconds,
                                        "serial_shell": self._serial_works}
            if self._facts is not None:
                extra["facts"] = self._facts.to_json()
            self.store.save(inputs, running.qmp, extra)
            self.save_seconds = time.monotonic() - started
        except InfraError as exc:
            # A snapshot is an optimisation: this run goes on, the next one boots cold.
            log.warning("pmu-harness: could not save an L1 snapshot: %s",
                        str(exc).splitlines()[0])
        running.qmp.execute("cont", 30)
        self._connect_ssh(running, time.monotonic() + SSH_READY_TIMEOUT)
        self._reset_clock()

    def _record_boot(self) -> None:
        # How this L1 came up, phase by phase, beside its logs (bench/speed.py reads it).
        record = {"boot": str(self.boot_mode), "phases": self.timings,
                  "save_seconds": self.save_seconds}
        (self.run_dir / f"boot-{self._attempt}.json").write_text(json.dumps(record) + "\n")

    def _mark(self, phase: str, started: float) -> float:
        self.timings[phase] = round(time.monotonic() - started, 3)
        return self.timings[phase]

    def _launch(self, label: str, incoming: Path | None) -> _Running:
        """Start QEMU with a fresh QMP socketpair and console log; wait for QMP."""
        # Numbered on from the logs already there: a retry in a fresh L1 (a new L1Machine
        # on the same directory) must not overwrite the failed attempt's console log.
        self._attempt = max(self._attempt, last_attempt(self.run_dir)) + 1
        stem = f"{self._attempt}-{label}"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        serial = SerialPair.open()
        console = ConsoleLog(self.run_dir / f"console-{stem}.log")
        wiring = RunWiring(
            qmp_fd=theirs.fileno(),
            console_log=console.path,
            incoming=incoming,
            name=f"pmu-harness-l1-{self.run_dir.parent.name}",
            serial_fds=(serial.command_theirs.fileno(), serial.error_theirs.fileno()),
        )
        argv = command_line(self.spec, wiring)
        if incoming is not None:
            # Stay paused after loading: the harness says `cont` when it is ready to time.
            argv.append("-S")
        process = QemuProcess(argv, self.run_dir / f"qemu-{stem}.log",
                              pass_fds=[theirs.fileno(), *serial.inherited_fds()])
        (self.run_dir / f"command-{stem}.txt").write_text(" ".join(argv) + "\n")
        try:
            process.start()
        except BaseException:
            ours.close()
            serial.close()
            raise
        finally:
            theirs.close()  # QEMU has its copy; ours would keep the socket open if QEMU died
            serial.close_theirs()
        running = _Running(process, QmpChannel(ours), console, serial)
        self._running = running
        try:
            running.qmp.connect(QMP_CONNECT_TIMEOUT)
        except InfraError as exc:
            process.wait(5)
            raise process.failure("QEMU did not start (no QMP greeting)", console.path) from exc
        return running

    def _ssh_target(self, running: _Running) -> SshTarget:
        port = parse_hostfwd_port(running.qmp.hmp("info usernet", 30))
        if port is None:
            raise running.process.failure("no SSH port forward in QEMU", running.console.path)
        return SshTarget(
            host="127.0.0.1",
            port=port,
            client_key=self.images.ssh_client_key,
            host_public_key=self.images.ssh_host_public_key,
        )

    def _open_channel(self, running: _Running) -> None:
        """Commands over the serial command channel; SSH only when needed."""
        session = SshSession(self._ssh_target(running), commands=SerialChannel(running.serial))
        session.connect_when_needed(SSH_READY_TIMEOUT)
        self._ssh = session

    def _try_channel(self, running: _Running) -> bool:
        """Whether L1's shell answers on the serial command channel (a kernel without
        virtio_console has none); a restore of this L1 uses it only if it did."""
        # Asked over SSH first: without the ports the channel's own check would only end
        # at its deadline.
        if not self.ssh.run(SERIAL_PORTS_CHECK, timeout=30).ok:
            log.info("pmu-harness: L1's kernel has no virtio-serial ports; commands go "
                     "over SSH")
            return False
        probe = SshSession(self.ssh.target, commands=SerialChannel(running.serial))
        try:
            result = probe.run("true", timeout=SERIAL_CHECK_TIMEOUT)
        except InfraError as exc:
            log.warning("pmu-harness: no shell on L1's serial command channel; commands go "
                        "over SSH: %s", str(exc).splitlines()[0])
            return False
        finally:
            probe.close()
        return result.ok

    def _connect_ssh(self, running: _Running, deadline: float, *,
                     check_channel: bool = True) -> None:
        session = SshSession(self._ssh_target(running))
        try:
            session.connect(deadline, check_channel=check_channel)
        except InfraError as exc:
            running.console.poll()
            raise InfraError(
                str(exc), log_tail=running.console.tail(), log_path=running.console.path,
                command=running.process.argv,
            ) from exc
        self._ssh = session

    @staticmethod
    def _saved_facts(snap: Snapshot) -> L1Facts | None:
        """The facts a snapshot was saved with; None (gather them) if it has none."""
        data = snap.meta().get("facts")
        if not isinstance(data, dict):
            return None
        try:
            return facts_from_json(data)
        except (KeyError, TypeError, ValueError):
            return None

    def _reset_clock(self) -> None:
        # An L1 paused for saving wakes up with the wall clock it was paused at;
        # timestamps in L1 logs should match the host's (a restore sets it in
        # after_restore_command).
        self.ssh.run(f"date -s @{int(time.time())} >/dev/null", timeout=30, check=True)

    def _verify(self) -> None:
        if not self._check_health:
            return
        facts = self.facts()
        check_health(facts, self.kvm_mode, self.console_log)
