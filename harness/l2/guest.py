"""One L1's L2 guest in linux mode: the kernel and initramfs L2 boots (staged into L1 on
first use), and the L2 snapshots taken in that L1 (one per vCPU count)."""

from __future__ import annotations

import logging
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError
from harness.l2.remote import L2_INITRD, L2_KERNEL, REMOTE_WORK, Remote, save_output
from harness.l2.settings import L2_KERNEL_DISTRO, L2Settings
from harness.l2.snapshot import take_command
from harness.l2.vmm import BootFiles

log = logging.getLogger(__name__)

SMALL_DIR = f"{REMOTE_WORK}/l2-small"
SNAPSHOTS_DIR = f"{REMOTE_WORK}/l2-snapshots"
STAGE_TIMEOUT = 120.0
SNAPSHOT_TIMEOUT = 300.0
SMALL_MEMORY_MIB = 128
DISTRO_FILES = BootFiles(L2_KERNEL, L2_INITRD)


@dataclass(frozen=True)
class SmallKernelFiles:
    """The small L2 kernel as L1 gets it: its Image, and its PMU driver as a cpio that L1
    appends to the L2 initramfs it already holds."""

    image: Path
    module_cpio: Path


@dataclass
class L2Session:
    """What linux mode keeps of L2 while one L1 lives."""

    settings: L2Settings = field(default_factory=L2Settings)
    small: SmallKernelFiles | None = None  # needed unless settings.kernel is distro
    _files: BootFiles | None = None
    _snapshots: dict[int, str] = field(default_factory=dict)
    # Seconds spent on what every case of the L1 shares (staging, snapshots).
    setup_seconds: float = 0.0

    def boot_files(self, remote: Remote) -> BootFiles:
        if self.settings.kernel == L2_KERNEL_DISTRO:
            return DISTRO_FILES
        if self._files is None:
            started = time.monotonic()
            self._files = _stage_small(remote, self.small)
            self.setup_seconds += time.monotonic() - started
        return self._files

    def snapshot(self, remote: Remote, vcpus: int, log_dir: Path) -> str:
        """Path in L1 of the snapshot of a waiting L2 with ``vcpus`` vCPUs, taken now if
        this L1 has none yet (its console kept as ``l2-snapshot-<n>.console``)."""
        if vcpus in self._snapshots:
            return self._snapshots[vcpus]
        files = self.boot_files(remote)
        directory = f"{SNAPSHOTS_DIR}/{self.settings.kernel}-smp{vcpus}"
        started = time.monotonic()
        result = remote.run(take_command(files, vcpus, directory), timeout=SNAPSHOT_TIMEOUT)
        seconds = time.monotonic() - started
        self.setup_seconds += seconds
        save_output(result, log_dir / f"l2-snapshot-{vcpus}.console")
        # What this L1's linux cases share: one L2 boot and its save (bench/l2_restore.py).
        (log_dir / f"l2-snapshot-{vcpus}.seconds").write_text(f"{seconds:.3f}\n")
        if result.exit_status != 0:
            raise InfraError(f"could not take the L2 snapshot ({vcpus} vCPUs) in L1",
                             log_tail=(result.stdout + result.stderr)[-3000:], log_path=log_dir)
        log.info("L2 snapshot (%d vCPUs) taken in %.1f s", vcpus, seconds)
        self._snapshots[vcpus] = f"{directory}/l2.snapshot"
        return self._snapshots[vcpus]


def _stage_small(remote: Remote, small: SmallKernelFiles | None) -> BootFiles:
    if small is None:
        raise InfraError("linux mode: the small L2 kernel was not built for this run")
    image, cpio = f"{SMALL_DIR}/Image", f"{SMALL_DIR}/pmu-module.cpio"
    initrd = f"{SMALL_DIR}/initrd"
    remote.run(f"mkdir -p {SMALL_DIR}", timeout=30)
    remote.put(small.image, image, STAGE_TIMEOUT)
    remote.put(small.module_cpio, cpio, STAGE_TIMEOUT)
    joined = remote.run(f"cat {L2_INITRD} {cpio} > {initrd}", timeout=60)
    if joined.exit_status != 0:
        raise InfraError(f"could not make the small L2 kernel's initramfs in L1: "
                         f"{shlex.quote(joined.stderr.strip())}")
    return BootFiles(image, initrd, memory_mib=SMALL_MEMORY_MIB)
