"""Booted-L1 snapshots in the cache: keyed by everything that shapes the machine, saved
with QMP `migrate` to a file, restored with `-incoming file:`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.errors import InfraError
from harness.paths import cache_dir
from harness.store import budget

# Bump when the way a snapshot is made changes (what runs before the save, the layout).
# 2: VHE L1s whose kernel cannot hotplug a CPU are no longer saved (their restore fails).
SNAPSHOT_FORMAT = 2
SECTION = "snapshots"
STATE_FILE = "l1.state"
META_FILE = "meta.json"
SAVE_TIMEOUT = 180.0
# Snapshots kept per slot (kernel x machine x KVM mode), the most recently used: two
# checkouts sharing one cache (a worktree beside main, a branch with other guest images)
# would otherwise evict each other's snapshot on every run and never restore. ~400 MB each.
SLOT_KEEP = 2

# Run in a restored L1 before anything else (pinned to CPU 0 by `rearm_timers_command`).
#
# QEMU (10.0 included) saves the deadline of only two of an Arm CPU's generic timers, EL1's
# physical and virtual ones (target/arm/machine.c: VMSTATE_TIMER_PTR(gt_timer[GTIMER_PHYS])
# and [GTIMER_VIRT]). The EL2 timers' registers come back, but QEMU arms their deadlines
# only when the guest writes them. A VHE kernel runs at EL2 and its tick is the EL2
# physical timer (PPI 26), so a restored VHE L1 gets no timer interrupt on any CPU: its
# kernel still believes an event is programmed, never writes the timer again, and every
# sleep, timeout and KVM_RUN that needs a tick or an hrtimer waits forever. An nVHE kernel
# runs at EL1 and ticks on EL1's physical timer, whose deadline QEMU does migrate: it needs
# no re-arm, and must not get one (see `needs_timer_rearm`).
#
# CPU hotplug makes the kernel write the timers again: taking a CPU down runs
# hrtimer_interrupt() on the CPU doing it (hrtimers_dead_cpu -> __hrtimer_peek_ahead_timers),
# which reprograms that CPU's timer, and bringing a CPU up registers its clock event device
# afresh. Expedited RCU keeps the hotplug's grace periods off the dead timers. Then a short
# sleep on every CPU proves each one's timer fires again (if not, the SSH deadline ends it).
#
# Shell builtins (`read`, `echo`, tests) wherever they do: right after a restore QEMU has
# translated none of L1's code yet, and every fork and exec (a `$(cat ...)`) costs tens of
# milliseconds more than it will later. Only taskset and sleep are left to exec.
_REARM_TIMERS_SCRIPT = """\
cd /sys/devices/system/cpu || exit 1
exp=/sys/kernel/rcu_expedited
old=
[ -r $exp ] && read -r old < $exp
[ -w $exp ] && echo 1 > $exp
status=0
for d in cpu[0-9]*; do
    [ "$d" = cpu0 ] && continue
    on=0
    [ -f "$d/online" ] && read -r on < "$d/online"
    [ "$on" = 1 ] || continue
    { echo 0 > "$d/online" && echo 1 > "$d/online"; } || status=1
done
[ -n "$old" ] && [ -w $exp ] && echo "$old" > $exp
for d in cpu[0-9]*; do
    on=1
    [ -f "$d/online" ] && read -r on < "$d/online"
    [ "$on" = 1 ] || continue
    taskset -c "${d#cpu}" sleep 0.01 || status=1
done
exit $status
"""


def rearm_timers_command() -> str:
    """The shell command that gets a restored L1's timers firing again (see above)."""
    return f"taskset -c 0 sh -c {shlex.quote(_REARM_TIMERS_SCRIPT)}"


def after_restore_command(kvm_mode: str, now: float) -> str:
    """Everything a restored L1 needs before its first case, in one command (one SSH round
    trip): timers re-armed where needed, the wall clock set to `now` (it wakes up with the
    time it was saved at; L1's logs should match the host's), /dev/kvm still there."""
    steps = [rearm_timers_command()] if needs_timer_rearm(kvm_mode) else []
    steps += [f"date -s @{int(now)} >/dev/null", "[ -c /dev/kvm ]"]
    return " && ".join(steps)


def needs_timer_rearm(kvm_mode: str) -> bool:
    """Whether a restored L1 must run `rearm_timers_command` first: only a VHE one.

    On an nVHE L1 (cortex-a57) the hotplug is not just useless but harmful: even on a
    cold-booted nVHE L1 with no snapshot involved, `pmu-probe` runs in 0.25 s before the
    re-arm script and hangs for good after it (its vCPU thread stuck in KVM_RUN, beyond
    SIGKILL). L1's console then shows `rcu: rcu_sched kthread timer wakeup didn't happen
    ... Possible timer handling issue on cpu=1`, an RCU stall on CPU 1 and soft lockups of
    CPU 0 waiting in kick_all_cpus_sync() for CPU 1: the CPU brought back up does not
    take interrupts any more (Debian 6.1 under QEMU 10.0.2 TCG). This is why every probe
    run on cortex-a57 hung after a restore in the first trial of snapshots."""
    return kvm_mode == "vhe"


def snapshot_keeps_timers(kvm_mode: str, smp: int) -> bool:
    """Whether a restored L1 can have working timers: one that needs the re-arm needs a
    second CPU to hotplug (CPU 0 is re-armed by taking another CPU down)."""
    return not needs_timer_rearm(kvm_mode) or smp >= 2


def file_identity(path: Path) -> str:
    """What `SnapshotInputs.boot_files` holds for one file: cheap (no hashing of a
    100 MB initramfs on every run) and changed by any rewrite of the file."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


class Qmp(Protocol):
    """The one QMP call snapshots need (harness.machine.qmp.QmpChannel provides it)."""

    def execute(self, command: str, timeout: float, **arguments: Any) -> Any: ...


@dataclass(frozen=True)
class SnapshotInputs:
    """Everything a saved L1 depends on. A change in any of them gives a new key."""

    images_cache_key: str
    kernel_profile: str
    machine_profile: str
    machine_fingerprint: str
    kvm_mode: str
    qemu_version: str
    command_line: tuple[str, ...]  # per-run parts (fds, paths, ports) left out
    # The kernel and initramfs QEMU loads, by size and mtime (`file_identity`). The cache
    # key names what the image set was built from, not the bytes on disk: a set rebuilt
    # under the same key (a repaired entry; a cpio is not byte-reproducible) or a file
    # changed in place must boot cold, never restore the L1 the old files made.
    boot_files: tuple[str, ...]

    def key(self) -> str:
        blob = json.dumps({"format": SNAPSHOT_FORMAT, **self.__dict__}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def slot(self) -> str:
        """What a snapshot is *for*; a newer key in the same slot replaces the older."""
        return f"{self.kernel_profile}--{self.machine_profile}--{self.kvm_mode}"


@dataclass(frozen=True)
class Snapshot:
    key: str
    state: Path

    def meta(self) -> dict[str, Any]:
        """What the save recorded (META_FILE); empty when it cannot be read."""
        try:
            data = json.loads((self.state.parent / META_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


class SnapshotStore:
    """Snapshots under `<cache>/snapshots/<key>/`, written atomically (tmp dir + rename)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_dir() / SECTION
        # The cache's cap is kept only for the cache's own store (a store elsewhere, as in
        # the unit tests, is not part of any cache).
        self.cache_root = cache_dir() if root is None else None

    def lookup(self, inputs: SnapshotInputs) -> Snapshot | None:
        key = inputs.key()
        state = self.root / key / STATE_FILE
        if state.is_file() and (self.root / key / META_FILE).is_file():
            # This L1 will be restored from it: no eviction may take it meanwhile.
            budget.take(self.root / key)
            if state.is_file():
                return Snapshot(key, state)
        return None

    def touch(self, key: str) -> None:
        """Mark a snapshot used (its slot keeps the SLOT_KEEP most recently used; the cache's
        cap evicts the least recently used)."""
        # Gone or on a read-only cache: it only ages sooner.
        with contextlib.suppress(OSError):
            os.utime(self.root / key / META_FILE)
        budget.take(self.root / key)

    def drop(self, key: str) -> None:
        """Remove a snapshot (one that failed to restore is rebuilt, never retried)."""
        shutil.rmtree(self.root / key, ignore_errors=True)

    def save(self, inputs: SnapshotInputs, qmp: Qmp, extra: dict[str, Any]) -> Snapshot:
        """Stop the VM and write its state; the caller decides whether to `cont` after."""
        key = inputs.key()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            started = time.monotonic()
            migrate_to_file(qmp, tmp / STATE_FILE, SAVE_TIMEOUT)
            meta = {"key": key, "slot": inputs.slot(), "inputs": inputs.__dict__,
                    "save_seconds": round(time.monotonic() - started, 3), **extra}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=list) + "\n")
            budget.take(self.root / key)
            self._install(tmp, key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune_slot(inputs.slot(), keep=key)
        if self.cache_root is not None:
            budget.after_store(self.cache_root)
        return Snapshot(key, self.root / key / STATE_FILE)

    def _install(self, tmp: Path, key: str) -> None:
        final = self.root / key
        try:
            tmp.rename(final)
        except OSError:
            # Another run saved the same key first; theirs is as good as ours.
            if not (final / STATE_FILE).is_file():
                raise

    def orphans(self, image_keys: set[str]) -> list[Path]:
        """Snapshots of image sets that are gone: no lookup can ever match them again."""
        found = []
        for meta_path in sorted(self.root.glob(f"*/{META_FILE}")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if meta.get("inputs", {}).get("images_cache_key") not in image_keys:
                found.append(meta_path.parent)
        return found

    def _prune_slot(self, slot: str, keep: str) -> None:
        """Drop all but the SLOT_KEEP most recently used snapshots of this kernel/machine/
        mode (`keep`, just saved, among them): the others' inputs changed."""
        others = []
        for meta_path in self.root.glob(f"*/{META_FILE}"):
            if meta_path.parent.name == keep:
                continue
            try:
                meta = json.loads(meta_path.read_text())
                used = meta_path.stat().st_mtime_ns
            except (OSError, ValueError):
                continue
            if meta.get("slot") == slot:
                others.append((used, meta_path.parent.name))
        for _, key in sorted(others, reverse=True)[SLOT_KEEP - 1:]:
            # Another L1 may be restoring from it right now: only an unleased one goes.
            budget.evict(budget.entry_of(self.root / key),
                         f"its slot {slot} keeps the {SLOT_KEEP} most recently used")


def migrate_to_file(qmp: Qmp, path: Path, timeout: float) -> None:
    """QMP stop + migrate to `file:` and wait for it to complete, under a deadline."""
    qmp.execute("stop", 30)
    qmp.execute("migrate", 30, uri=f"file:{path}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = qmp.execute("query-migrate", 30)
        status = info.get("status") if isinstance(info, dict) else None
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            raise InfraError(f"saving the L1 snapshot failed: {info}")
        time.sleep(0.1)
    qmp.execute("migrate_cancel", 30)
    raise InfraError(f"saving the L1 snapshot took longer than {timeout:.0f} s")


def wait_incoming(qmp: Qmp, timeout: float) -> None:
    """Wait until an `-incoming` QEMU has loaded its state (it then sits paused)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = qmp.execute("query-status", 30).get("status")
        if status in ("paused", "prelaunch", "postmigrate", "running"):
            return
        if status != "inmigrate":
            raise InfraError(f"restoring the L1 snapshot: unexpected VM status {status!r}")
        time.sleep(0.05)
    raise InfraError(f"restoring the L1 snapshot took longer than {timeout:.0f} s")
