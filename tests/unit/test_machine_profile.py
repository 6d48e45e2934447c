"""Machine profiles load into validated frozen objects; bad ones list every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog import MACHINES
from harness.errors import UsageError
from harness.machine.profile import load_machine_profile


def test_shipped_profiles_load() -> None:
    names = MACHINES.names()
    assert {"max", "cortex-a57", "max-icount"} <= set(names)
    for name in names:
        profile = load_machine_profile(name)
        assert profile.name == name
        assert profile.default_kvm_mode in profile.kvm_modes


def test_max_profile_values() -> None:
    p = load_machine_profile("max")
    assert (p.cpu, p.memory_mib, p.smp, p.icount) == ("max", 3072, 2, False)
    assert p.pmu.event_bits == 16
    assert p.pmu.host_pmceid0 == 0x20001
    assert p.pmu.counting_events == (0x00, 0x11)
    assert p.resolve_kvm_mode(None) == "vhe"
    assert p.resolve_kvm_mode("nvhe") == "nvhe"


def test_cortex_a57_is_nvhe_only() -> None:
    p = load_machine_profile("cortex-a57")
    assert p.resolve_kvm_mode(None) == "nvhe"
    with pytest.raises(UsageError, match="supports KVM modes"):
        p.resolve_kvm_mode("vhe")


def test_unknown_profile_is_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown machine profile 'nope'"):
        load_machine_profile("nope")


def test_fingerprint_tracks_contents() -> None:
    a = load_machine_profile("max")
    b = load_machine_profile("max-icount")
    assert a.fingerprint() == load_machine_profile("max").fingerprint()
    assert a.fingerprint() != b.fingerprint()


BAD_PROFILE = """\
name: bad
qemu:
  cpu: max
  machine: virt
  memory_mib: true
  smp: two
pmu:
  version: x
  event_bits: 16
  counters: 6
  host_pmceid0: 1
  host_pmceid1: 0
  counting_events: [a]
kvm_modes: [vhe, pkvm]
default_kvm_mode: nvhe
"""


def test_bad_profile_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_PROFILE)
    with pytest.raises(UsageError) as info:
        load_machine_profile("bad", tmp_path)
    text = str(info.value)
    for fragment in ("bad.yaml:5: qemu.memory_mib", "bad.yaml:6: qemu.smp",
                     "bad.yaml:3: qemu.icount",  # missing: the line of its mapping
                     "bad.yaml:13: pmu.counting_events",
                     "bad.yaml:14: kvm_modes: unknown KVM mode 'pkvm'",
                     "bad.yaml:15: default_kvm_mode"):
        assert fragment in text


def test_profile_name_must_match_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text((Path(__file__).parents[2] / "configs/machines/max.yaml").read_text())
    with pytest.raises(UsageError, match="differs from the file name"):
        load_machine_profile("other", tmp_path)
