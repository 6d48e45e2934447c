"""Boot timings in one run: raw QEMU to the console marker, the harness's cold boot to
SSH-ready, and restore from a snapshot to SSH-ready; prints the ratios.

    .venv/bin/python bench/boot_times.py --kernel debian-6.1 --machine max [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.images import ImageSet, build_image_set
from harness.machine import BootMode, L1Machine, load_machine_profile
from harness.machine.console import ConsoleLog
from harness.machine.profile import MachineProfile
from harness.machine.qemu import READY_MARKER, QemuSpec, RunWiring, command_line
from harness.machine.snapshot import SnapshotStore

DEADLINE = 300.0


def raw_boot(images: ImageSet, profile: MachineProfile, kvm_mode: str, work: Path) -> float:
    """Plain QEMU, same command line, no harness: seconds until the marker is printed."""
    spec = QemuSpec(profile, images.kernel_image, images.l1_initrd, kvm_mode)
    ours, theirs = socket.socketpair()
    console = ConsoleLog(work / f"raw-{time.monotonic_ns()}.log")
    argv = command_line(spec, RunWiring(qmp_fd=theirs.fileno(), console_log=console.path))
    start = time.monotonic()
    proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    theirs.close()
    try:
        console.wait_for(READY_MARKER, start + DEADLINE, lambda: proc.poll() is None)
        return time.monotonic() - start
    finally:
        proc.kill()
        proc.wait(30)
        ours.close()


def harness_boot(images: ImageSet, profile: MachineProfile, kvm_mode: str, work: Path,
                 store: SnapshotStore, snapshots: bool) -> tuple[BootMode | None, float]:
    with L1Machine(images, profile, work / f"run-{time.monotonic_ns()}", kvm_mode=kvm_mode,
                   snapshots=snapshots, store=store) as l1:
        return l1.boot_mode, l1.boot_seconds or 0.0


def measure(kernel: str, machine: str, nvhe: bool, repeat: int) -> dict[str, object]:
    images = build_image_set(kernel)
    profile = load_machine_profile(machine)
    mode = profile.resolve_kvm_mode("nvhe" if nvhe else None)
    times: dict[str, list[float]] = {"raw_to_marker": [], "cold_to_ssh": [],
                                     "restore_to_ssh": []}
    with tempfile.TemporaryDirectory(prefix="pmu-bench-") as tmp:
        work = Path(tmp)
        store = SnapshotStore(work / "snapshots")
        # One cold boot with snapshots on creates this run's own snapshot (not the cache's).
        harness_boot(images, profile, mode, work, store, snapshots=True)
        for _ in range(repeat):
            times["raw_to_marker"].append(raw_boot(images, profile, mode, work))
            times["cold_to_ssh"].append(
                harness_boot(images, profile, mode, work, store, snapshots=False)[1])
            how, seconds = harness_boot(images, profile, mode, work, store, snapshots=True)
            assert how is BootMode.RESTORED, how
            times["restore_to_ssh"].append(seconds)
    med = {k: round(statistics.median(v), 3) for k, v in times.items()}
    return {
        "kernel": kernel, "machine": machine, "kvm_mode": mode, "repeat": repeat,
        "median_seconds": med, "all_seconds": {k: [round(x, 3) for x in v]
                                               for k, v in times.items()},
        "ratios": {
            "cold_vs_raw": round(med["cold_to_ssh"] / med["raw_to_marker"], 2),
            "restore_vs_cold": round(med["restore_to_ssh"] / med["cold_to_ssh"], 3),
            "cold_over_restore_speedup": round(med["cold_to_ssh"] / med["restore_to_ssh"], 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kernel", default="debian-6.1")
    parser.add_argument("--machine", default="max")
    parser.add_argument("--nvhe", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.kernel, args.machine, args.nvhe, args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
