"""Snapshot keys change with every input; the store saves atomically and prunes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InfraError
from harness.machine import L1Machine, load_machine_profile
from harness.machine.l1 import SaveStep
from harness.machine.snapshot import (
    META_FILE,
    Snapshot,
    SnapshotInputs,
    SnapshotStore,
    after_restore_command,
    migrate_to_file,
    needs_timer_rearm,
    snapshot_keeps_timers,
)
from harness.store import budget

INPUTS = SnapshotInputs(
    images_cache_key="img1",
    kernel_profile="debian-6.1",
    machine_profile="max",
    machine_fingerprint="fp",
    kvm_mode="vhe",
    qemu_version="QEMU emulator version 10.0.2",
    command_line=("qemu-system-aarch64", "-cpu", "max"),
    boot_files=("Image:100:1", "l1-initrd.cpio:200:1"),
)


class FakeQmp:
    """Answers like QEMU: `migrate` writes the file, `query-migrate` reports `final`."""

    def __init__(self, final: str = "completed") -> None:
        self.final = final
        self.calls: list[str] = []

    def execute(self, command: str, timeout: float, **arguments: Any) -> Any:
        self.calls.append(command)
        if command == "migrate":
            Path(arguments["uri"].removeprefix("file:")).write_bytes(b"state")
        if command == "query-migrate":
            return {"status": self.final}
        return {}


@pytest.mark.parametrize(
    "change",
    [
        {"images_cache_key": "img2"},
        {"machine_fingerprint": "fp2"},
        {"kvm_mode": "nvhe"},
        {"qemu_version": "QEMU emulator version 10.1.0"},
        {"command_line": ("qemu-system-aarch64", "-cpu", "cortex-a57")},
        {"boot_files": ("Image:100:1", "l1-initrd.cpio:200:2")},
    ],
)
def test_every_input_changes_the_key(change: dict[str, Any]) -> None:
    assert dataclasses.replace(INPUTS, **change).key() != INPUTS.key()


def test_save_lookup_drop(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    assert store.lookup(INPUTS) is None
    qmp = FakeQmp()
    snap = store.save(INPUTS, qmp, {"boot_seconds": 7.0})
    assert qmp.calls[:2] == ["stop", "migrate"]
    assert store.lookup(INPUTS) == snap
    assert snap.state.read_bytes() == b"state"
    assert not list(tmp_path.glob(".*tmp*"))
    store.drop(snap.key)
    assert store.lookup(INPUTS) is None


def _age(snap: Snapshot, seconds: int) -> None:
    os.utime(snap.state.parent / META_FILE, (seconds, seconds))


def test_a_slot_keeps_its_two_most_recently_used_snapshots(tmp_path: Path) -> None:
    # Two checkouts with different image sets take turns without evicting each other;
    # a third set of inputs evicts the one used least recently.
    store = SnapshotStore(tmp_path)
    old = store.save(INPUTS, FakeQmp(), {})
    _age(old, 1000)
    other_slot = store.save(dataclasses.replace(INPUTS, kvm_mode="nvhe"), FakeQmp(), {})
    _age(other_slot, 500)
    new = store.save(dataclasses.replace(INPUTS, images_cache_key="img2"), FakeQmp(), {})
    _age(new, 2000)
    assert old.state.exists() and new.state.exists()
    budget.release_all()  # the runs that saved them have ended
    store.touch(old.key)  # restored just now: `new` is the least recently used
    newest = store.save(dataclasses.replace(INPUTS, images_cache_key="img3"), FakeQmp(), {})
    assert old.state.exists() and newest.state.exists() and not new.state.exists()
    assert other_slot.state.exists()
    budget.release_all()


def test_a_slot_never_drops_a_snapshot_in_use(tmp_path: Path) -> None:
    # A run restoring from a snapshot holds its lease: a third set of inputs saved
    # meanwhile must not pull the state file from under it.
    store = SnapshotStore(tmp_path)
    first = store.save(INPUTS, FakeQmp(), {})
    _age(first, 1000)
    second = store.save(dataclasses.replace(INPUTS, images_cache_key="img2"), FakeQmp(), {})
    _age(second, 2000)
    budget.release_all()
    # Being restored by this run (leased), not yet marked used: the slot's oldest.
    assert store.lookup(INPUTS) == first
    store.save(dataclasses.replace(INPUTS, images_cache_key="img3"), FakeQmp(), {})
    assert first.state.exists() and second.state.exists()
    budget.release_all()  # that run ended: the next save may drop it
    store.save(dataclasses.replace(INPUTS, images_cache_key="img4"), FakeQmp(), {})
    assert not first.state.exists()
    budget.release_all()


def test_failed_migration_is_infra_error_and_leaves_nothing(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    with pytest.raises(InfraError, match="saving the L1 snapshot failed"):
        store.save(INPUTS, FakeQmp(final="failed"), {})
    assert store.lookup(INPUTS) is None
    assert list(tmp_path.iterdir()) == []


def test_migration_deadline(tmp_path: Path) -> None:
    qmp = FakeQmp(final="active")
    with pytest.raises(InfraError, match="longer than"):
        migrate_to_file(qmp, tmp_path / "s", timeout=0.3)
    assert qmp.calls[-1] == "migrate_cancel"


def test_only_a_vhe_l1_gets_its_timers_re_armed() -> None:
    # The hotplug re-arm hangs an nVHE L1's CPU 1 (snapshot.needs_timer_rearm).
    assert needs_timer_rearm("vhe")
    assert not needs_timer_rearm("nvhe")
    assert not needs_timer_rearm("protected")


@pytest.mark.parametrize(("kvm_mode", "smp", "keeps"), [
    ("vhe", 2, True), ("vhe", 1, False), ("nvhe", 1, True), ("nvhe", 2, True),
])
def test_a_single_cpu_vhe_l1_is_never_snapshotted(kvm_mode: str, smp: int, keeps: bool) -> None:
    assert snapshot_keeps_timers(kvm_mode, smp) is keeps


@dataclasses.dataclass(frozen=True)
class _Images:
    kernel_image: Path
    l1_initrd: Path
    cache_key: str = "set-1"
    kernel_profile: str = "debian-6.1"
    ssh_client_key: Path = Path("/nonexistent/key")
    ssh_host_public_key: str = "ssh-ed25519 AAAA"


def _key(images: _Images) -> str:
    return L1Machine(images, load_machine_profile("max"), images.kernel_image.parent
                     ).snapshot_inputs().key()


def test_a_changed_image_set_never_restores_a_stale_l1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What an L1 machine looks its snapshot up by: a new image set (cache key) or a
    # kernel or initramfs rewritten under the same key (a repaired entry) gives a new key.
    monkeypatch.setattr("harness.machine.l1.qemu_version", lambda binary: "QEMU 10.0.2")
    (tmp_path / "Image").write_bytes(b"kernel")
    (tmp_path / "l1-initrd.cpio").write_bytes(b"initrd")
    images = _Images(tmp_path / "Image", tmp_path / "l1-initrd.cpio")
    key = _key(images)
    assert _key(images) == key
    assert _key(dataclasses.replace(images, cache_key="set-2")) != key
    (tmp_path / "l1-initrd.cpio").write_bytes(b"initrd, truncated")
    assert _key(images) != key


def test_one_command_readies_a_restored_l1() -> None:
    vhe = after_restore_command("vhe", 1_700_000_000.5)
    nvhe = after_restore_command("nvhe", 1_700_000_000.5)
    assert "date -s @1700000000" in vhe and "date -s @1700000000" in nvhe
    assert "/online" in vhe and "/online" not in nvhe
    assert vhe.index("/online") < vhe.index("date -s")  # timers first: date needs none
    assert nvhe.endswith("[ -c /dev/kvm ]")


def test_snapshot_meta_is_read_back(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    snap = store.save(INPUTS, FakeQmp(), {"facts": {"kernel_release": "6.1"}})
    assert snap.meta()["facts"] == {"kernel_release": "6.1"}
    assert Snapshot("gone", tmp_path / "gone" / "l1.state").meta() == {}


@dataclasses.dataclass
class _Shell:
    """L1's shell as far as the save decision asks it: whether CPU 1 can go offline."""

    hotplug: bool
    asked: list[str] = dataclasses.field(default_factory=list)

    def run(self, command: str, timeout: float) -> Any:
        self.asked.append(command)
        return dataclasses.make_dataclass("R", [("exit_status", int)])(
            0 if self.hotplug else 1)


@pytest.mark.parametrize(("machine", "kvm_mode", "hotplug", "saved"), [
    ("max", "vhe", True, True),
    # A kernel built without CONFIG_HOTPLUG_CPU (a user's own config): its restore would
    # stall CPU 1.
    ("max", "vhe", False, False),
    # nVHE needs no re-arm, so no hotplug either; nothing is asked.
    ("cortex-a57", "nvhe", False, True),
])
def test_an_l1_is_saved_only_when_its_restore_can_re_arm_its_timers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine: str, kvm_mode: str,
        hotplug: bool, saved: bool) -> None:
    images = _Images(tmp_path / "Image", tmp_path / "l1-initrd.cpio")
    l1 = L1Machine(images, load_machine_profile(machine), tmp_path, kvm_mode=kvm_mode)
    shell = _Shell(hotplug)
    monkeypatch.setattr(l1, "_ssh", shell)
    assert l1._restorable() is saved
    assert bool(shell.asked) is (kvm_mode == "vhe")


@dataclasses.dataclass
class _StepShell:
    """L1's shell for the steps before a save: each command exits with the status given."""

    status: dict[str, int]
    asked: list[str] = dataclasses.field(default_factory=list)

    def run(self, command: str, timeout: float) -> Any:
        self.asked.append(command)
        return dataclasses.make_dataclass("R", [("exit_status", int), ("stderr", str)])(
            self.status[command], "kmemleak: disabled")


@pytest.mark.parametrize(("status", "asked", "saved"), [
    ({"first": 0, "second": 0}, ["first", "second"], True),
    # A failed step leaves L1 in a state nobody asked to keep: no snapshot, no later step.
    ({"first": 1, "second": 0}, ["first"], False),
    ({"first": 0, "second": 2}, ["first", "second"], False),
])
def test_the_steps_before_a_save_run_in_order_and_a_failure_stops_the_save(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: dict[str, int],
        asked: list[str], saved: bool) -> None:
    images = _Images(tmp_path / "Image", tmp_path / "l1-initrd.cpio")
    steps = (SaveStep("first", 5.0), SaveStep("second", 5.0))
    l1 = L1Machine(images, load_machine_profile("max"), tmp_path, before_save=steps)
    shell = _StepShell(status)
    monkeypatch.setattr(l1, "_ssh", shell)
    assert l1._steps_done() is saved
    assert shell.asked == asked
