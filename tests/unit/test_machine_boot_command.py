"""`pmu-harness boot`: user mistakes are usage errors found before anything is built."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.commands.boot import _human


def test_unknown_machine_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "--kernel", "debian-6.1", "--machine", "nope"]) == 2
    assert "unknown machine profile 'nope'" in capsys.readouterr().err


def test_human_report_names_the_essentials() -> None:
    report = {
        "kernel_release": "6.1.0-56-arm64", "kernel_profile": "debian-6.1", "machine": "max",
        "kvm_mode": "vhe", "kvm_error": None, "dev_kvm": True, "pmu_driver": "armv8_pmuv3",
        "pmu_counters": 7, "pmu_version_inferred": "PMUv3p4+", "pmu_version_profile": "PMUv3p5",
        "pmceid0": "0x20000", "pmceid1": "0x10000018", "pmceid_profile": "0x20001 / 0x10000018",
        "pmu_events": {"cpu_cycles": "0x11"}, "boot": "restored", "seconds_to_ssh": 0.9,
        "run_dir": "/r",
    }
    text = _human(report)
    for fragment in ("6.1.0-56-arm64", "KVM mode:      vhe", "0x20000 / 0x10000018",
                     "cpu_cycles=0x11", "restored in 0.9 s"):
        assert fragment in text
