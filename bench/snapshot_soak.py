"""Soak L1 snapshot restore: for every kernel x machine, make sure a snapshot exists (cold
boot + save), then restore it N times and run one real `pmu-probe` case in each restored
L1 under a deadline. Prints a table; not a test (no thresholds: machines are shared).

    .venv/bin/python bench/snapshot_soak.py [--kernel K ...] [--machine M ...] [--restores 5]

Snapshots go to a store of its own (each slot's dropped when its restores are done): a
checkout sharing the real cache may evict a slot's snapshot mid-soak. `--cache` uses the
real one (~/.cache/pmu-harness/snapshots) instead. One L1 at a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError
from harness.images import build_image_set
from harness.machine import BootMode, L1Machine, load_machine_profile
from harness.machine.snapshot import SnapshotStore

KERNELS = ["debian-5.10", "debian-6.1", "debian-6.12", "debian-latest"]
MACHINES = ["max", "cortex-a57", "max-icount"]
PROBE = "/opt/pmu-harness/bin/pmu-probe"
# One vCPU, one filter call, a short CPU_CYCLES loop: a few KVM_RUNs, well under a second
# on a healthy L1. A restored L1 with dead timers hangs in KVM_RUN instead.
FILTER = ("pmu-harness-filter 1\nvcpus 1\nfilter 0 0x11 1 deny\n"
          "workload 0x11 cycles=1 loops=2000\n")
# pmu-probe: 0 = ran, 2 = ran and reports a refused call; anything else is a failure.
PROBE_OK = (0, 2)
PROBE_TIMEOUT = 60.0


@dataclass
class Slot:
    kernel: str
    machine: str
    kvm_mode: str = "?"
    made: str = "existing"           # "existing", or the cold boot's seconds to SSH + save
    ready: list[float] = field(default_factory=list)   # restores that ran the probe fine
    probe: list[float] = field(default_factory=list)
    attempts: int = 0
    failures: list[str] = field(default_factory=list)


def run_probe(l1: L1Machine) -> float:
    """One probe case in L1; its seconds. Raises on a hang, a bad exit or bad output."""
    l1.ssh.run(f"mkdir -p /tmp/soak && printf '%s' '{FILTER}' > /tmp/soak/filter",
               timeout=30, check=True)
    started = time.monotonic()
    result = l1.ssh.run(f"{PROBE} /tmp/soak/filter", timeout=PROBE_TIMEOUT)
    seconds = time.monotonic() - started
    if result.exit_status not in PROBE_OK:
        raise InfraError(f"pmu-probe exited {result.exit_status}: {result.stderr[-300:]}")
    try:
        json.loads(result.stdout)
    except ValueError as exc:
        raise InfraError(f"pmu-probe printed no JSON: {result.stdout[:200]!r}") from exc
    return seconds


def soak(slot: Slot, restores: int, work: Path, store: SnapshotStore) -> None:
    images = build_image_set(slot.kernel, progress=False)
    profile = load_machine_profile(slot.machine)
    machine = L1Machine(images, profile, work / "probe-key", store=store)
    slot.kvm_mode = machine.kvm_mode
    if store.lookup(machine.snapshot_inputs()) is None:
        with L1Machine(images, profile, work / "cold", store=store) as l1:
            slot.made = f"cold {l1.boot_seconds:.1f} s + save {l1.save_seconds or 0:.1f} s"
    for n in range(restores):
        slot.attempts += 1
        try:
            with L1Machine(images, profile, work / f"restore-{n}", store=store) as l1:
                if l1.boot_mode is not BootMode.RESTORED:
                    slot.failures.append(f"restore {n}: booted {l1.boot_mode}")
                    continue
                ready = l1.timings["ready"]
                slot.probe.append(run_probe(l1))
                slot.ready.append(ready)
        except InfraError as exc:
            slot.failures.append(f"restore {n}: {str(exc).splitlines()[0][:200]}")


def table(slots: list[Slot]) -> str:
    lines = ["| kernel | machine | KVM | restores ok | ready median | min | max | probe median |"
             " snapshot |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in slots:
        def cell(values: list[float], pick: str) -> str:
            if not values:
                return "-"
            value = {"median": statistics.median(values), "min": min(values),
                     "max": max(values)}[pick]
            return f"{value:.2f}"
        lines.append(f"| {s.kernel} | {s.machine} | {s.kvm_mode} | {len(s.ready)}/{s.attempts}"
                     f" | {cell(s.ready, 'median')} | {cell(s.ready, 'min')} |"
                     f" {cell(s.ready, 'max')} | {cell(s.probe, 'median')} | {s.made} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", action="append", help=f"default: {' '.join(KERNELS)}")
    parser.add_argument("--machine", action="append", help=f"default: {' '.join(MACHINES)}")
    parser.add_argument("--restores", type=int, default=5, help="per slot (default 5)")
    parser.add_argument("--cache", action="store_true",
                        help="use (and fill) the real snapshot cache")
    args = parser.parse_args()
    slots = [Slot(k, m) for k in args.kernel or KERNELS for m in args.machine or MACHINES]
    # L1 logs (consoles, QEMU logs) of every restore, kept when anything failed.
    tmp = Path(tempfile.mkdtemp(prefix="pmu-soak-"))
    for slot in slots:
        work = tmp / f"{slot.kernel}-{slot.machine}"
        store = SnapshotStore() if args.cache else SnapshotStore(work / "snapshots")
        try:
            soak(slot, args.restores, work, store)
        except InfraError as exc:
            slot.failures.append(f"setup: {str(exc).splitlines()[0][:200]}")
        if not args.cache:
            shutil.rmtree(store.root, ignore_errors=True)  # ~400 MB a slot
        print(f"{slot.kernel} {slot.machine}: {len(slot.ready)}/{slot.attempts} ok",
              file=sys.stderr, flush=True)
        for failure in slot.failures:
            print(f"  {failure}", file=sys.stderr, flush=True)
    print("seconds; ready = L1Machine start to ready for the first case (restore, re-arm on"
          " VHE, clock, health check); probe = one pmu-probe case over SSH")
    print(table(slots))
    failed = [f"{s.kernel} {s.machine}: {f}" for s in slots for f in s.failures]
    for failure in failed:
        print(f"FAILED {failure}")
    if failed:
        print(f"L1 logs: {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
