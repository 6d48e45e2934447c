"""L1 boots (cold and from a snapshot), reports KVM and the PMU, and dies loudly on panic.

Slow: each test boots QEMU TCG. Run with ``pytest -m system tests/system``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.images import ImageSet, build_image_set
from harness.machine import BootMode, L1Machine, load_machine_profile
from harness.machine.snapshot import SnapshotStore
from tests.system.l1_probe import probe_runs
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
KERNEL = "debian-6.1"


@pytest.fixture(scope="module")
def images() -> ImageSet:
    return build_image_set(KERNEL, progress=False)


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Whatever the test did, nothing of this run may be left running.
    assert qemu_pids_mentioning(str(tmp_path)) == []


def _check_l1(l1: L1Machine, mode: str) -> None:
    facts = l1.facts()
    assert facts.kvm_mode == mode, facts.kvm_error
    assert facts.dev_kvm
    assert facts.pmu_driver is not None and "cpu_cycles" in facts.pmu_events
    assert facts.pmceid0 & (1 << 0x11)  # CPU_CYCLES: QEMU always implements it
    result = l1.ssh.run("ls -l /dev/kvm && uname -r", timeout=30)
    assert result.ok, result.stderr
    assert facts.kernel_release in result.stdout


def test_cold_boot_then_restore_max(images: ImageSet, run_dir: Path) -> None:
    store = SnapshotStore(run_dir / "snapshots")
    profile = load_machine_profile("max")
    with L1Machine(images, profile, run_dir / "cold", store=store) as l1:
        assert l1.boot_mode is BootMode.COLD
        _check_l1(l1, "vhe")
        local = run_dir / "hello.txt"
        local.write_text("hello L1\n")
        l1.ssh.put(local, "/tmp/hello.txt")
        l1.ssh.get("/tmp/hello.txt", run_dir / "back.txt")
        assert (run_dir / "back.txt").read_text() == "hello L1\n"
    assert store.lookup(l1.snapshot_inputs()) is not None
    with L1Machine(images, profile, run_dir / "restored", store=store) as l1:
        assert l1.boot_mode is BootMode.RESTORED
        # Its commands go to L1's shell on the serial channel (no SSH handshake after the
        # restore); SSH connects when a file is copied, and commands stay on the channel.
        assert l1.ssh.uses_channel
        _check_l1(l1, "vhe")
        l1.ssh.put(local, "/tmp/again.txt")
        assert l1.ssh.run("cat /tmp/again.txt", timeout=30).stdout == "hello L1\n"
        assert l1.ssh.uses_channel
        # The clock was reset after the restore: L1 agrees with the host within a minute.
        l1_now = int(l1.ssh.run("date +%s", timeout=30, check=True).stdout)
        assert abs(l1_now - time.time()) < 60
        probe_runs(l1)
    # Each L1 says how it came up, beside its logs (bench/speed.py reads these).
    cold = json.loads((run_dir / "cold" / "l1" / "boot-1.json").read_text())
    restored = json.loads((run_dir / "restored" / "l1" / "boot-1.json").read_text())
    assert (cold["boot"], restored["boot"]) == ("cold", "restored")
    assert {"marker", "ssh", "ready"} <= set(cold["phases"])
    assert {"loaded", "ready"} <= set(restored["phases"])
    assert "ssh" not in restored["phases"]
    assert cold["save_seconds"] > 0 and restored["save_seconds"] is None


def test_broken_snapshot_is_dropped_and_rebuilt(images: ImageSet, run_dir: Path) -> None:
    store = SnapshotStore(run_dir / "snapshots")
    profile = load_machine_profile("cortex-a57")
    machine = L1Machine(images, profile, run_dir / "a", store=store)
    inputs = machine.snapshot_inputs()
    broken = store.root / inputs.key()
    broken.mkdir(parents=True)
    (broken / "l1.state").write_bytes(b"not a migration stream")
    (broken / "meta.json").write_text("{}")
    with machine as l1:
        assert l1.boot_mode is BootMode.COLD
        _check_l1(l1, "nvhe")
    snap = store.lookup(inputs)
    assert snap is not None and snap.state.stat().st_size > 1_000_000
    # The rebuilt snapshot restores, and nested KVM works in it: on nVHE the restore must
    # not re-arm timers by hotplug (snapshot.needs_timer_rearm).
    with L1Machine(images, profile, run_dir / "b", store=store) as l1:
        assert l1.boot_mode is BootMode.RESTORED
        assert not l1.timers_rearmed
        probe_runs(l1)


def test_max_nvhe(images: ImageSet, run_dir: Path) -> None:
    profile = load_machine_profile("max")
    with L1Machine(images, profile, run_dir, kvm_mode="nvhe", snapshots=False) as l1:
        _check_l1(l1, "nvhe")


def test_panic_is_an_infra_error_with_the_text(images: ImageSet, run_dir: Path) -> None:
    # No /init to run: the kernel falls back to mounting a root fs it has not got, panics.
    profile = load_machine_profile("cortex-a57")
    start = time.monotonic()
    machine = L1Machine(images, profile, run_dir, snapshots=False,
                        extra_append=("rdinit=/nonexistent",))
    with pytest.raises(InfraError, match="kernel panic") as info:
        machine.start()  # cleans up after itself when it fails
    assert "Kernel panic - not syncing" in info.value.log_tail
    assert time.monotonic() - start < 60
