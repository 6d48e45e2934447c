"""L1 facts are parsed from real kernel output; health problems are all reported."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.machine.facts import (
    GATHER_SCRIPT,
    SECTION,
    L1Facts,
    check_health,
    facts_from_json,
    health_problems,
    infer_pmu_version,
    kvm_mode_from_dmesg,
    parse_facts,
    pmceid_from_events,
    pmu_from_dmesg,
)

DATA = Path(__file__).parent / "data" / "machine"


def test_kvm_modes_from_real_boots() -> None:
    assert kvm_mode_from_dmesg((DATA / "boot-max-vhe-6.1.txt").read_text()) == ("vhe", None)
    assert kvm_mode_from_dmesg((DATA / "boot-a57-nvhe-6.1.txt").read_text()) == ("nvhe", None)
    line_612 = "[    1.25] kvm [1]: Hyp nVHE mode initialized successfully"
    assert kvm_mode_from_dmesg(line_612) == ("nvhe", None)
    mode, error = kvm_mode_from_dmesg((DATA / "boot-no-el2-6.1.txt").read_text())
    assert mode is None and error is not None and "HYP mode not available" in error


def test_pmu_from_dmesg() -> None:
    text = (DATA / "boot-max-vhe-6.1.txt").read_text()
    assert pmu_from_dmesg(text) == ("armv8_pmuv3", 7)
    assert pmu_from_dmesg("nothing") == (None, None)
    line_612 = ("[    3.846034] hw perfevents: enabled with armv8_pmuv3 PMU driver, "
                "7 (0,8000003f) counters available")
    assert pmu_from_dmesg(line_612) == ("armv8_pmuv3", 7)


def test_pmceid_layout_matches_machine_profiles() -> None:
    # The events QEMU's max CPU implements give configs/machines/max-icount.yaml's values.
    events = {"sw_incr": 0x00, "inst_retired": 0x08, "cpu_cycles": 0x11,
              "stall_frontend": 0x23, "stall_backend": 0x24, "stall": 0x3C,
              "x4004": 0x4004, "x4021": 0x4021, "impdef": 0xC0}
    p0, p1 = pmceid_from_events(events)
    assert p0 == 0x20101 | (1 << (32 + 4))
    assert p1 == 0x10000018 | (1 << (32 + 1))


def test_infer_pmu_version() -> None:
    assert infer_pmu_version({}) == "none"
    assert infer_pmu_version({"cpu_cycles": 0x11}) == "PMUv3"
    assert infer_pmu_version({"cpu_cycles": 0x11, "stall_backend": 0x24}) == "PMUv3p1+"
    assert infer_pmu_version({"x": 0x4004}) == "PMUv3p1+"
    assert infer_pmu_version({"stall": 0x3C, "stall_backend": 0x24}) == "PMUv3p4+"


def _gather_output(dmesg: str, events: str) -> str:
    return "\n".join([
        f"{SECTION} uname", "6.1.0-56-arm64",
        f"{SECTION} devkvm", "yes",
        f"{SECTION} events", events,
        f"{SECTION} caps", "slots 0x00000000",
        f"{SECTION} dmesg", dmesg,
    ])


def test_parse_facts() -> None:
    dmesg = (DATA / "boot-max-vhe-6.1.txt").read_text()
    events = ("armv8_pmuv3_0 cpu_cycles event=0x0011\n"
              "armv8_pmuv3_0 sw_incr event=0x0000\n"
              "armv8_pmuv3_0 stall event=0x003c\n")
    facts = parse_facts(_gather_output(dmesg, events))
    assert facts.kernel_release == "6.1.0-56-arm64"
    assert facts.kvm_mode == "vhe" and facts.dev_kvm
    assert facts.pmu_events == {"cpu_cycles": 0x11, "sw_incr": 0, "stall": 0x3C}
    assert facts.pmceid0 == 0x20001 and facts.pmceid1 == 0x10000000
    assert facts.pmu_caps == {"slots": "0x00000000"}
    assert facts.pmu_version_inferred == "PMUv3p4+"
    assert health_problems(facts, "vhe") == []
    assert health_problems(facts, "nvhe") == ["KVM came up in vhe mode, expected nvhe"]
    assert facts.to_json()["pmceid0"] == "0x20001"


def test_unhealthy_l1_lists_every_problem() -> None:
    facts = L1Facts("6.1", None, "kvm [1]: HYP mode not available", False, None, None,
                    dmesg_evidence=("[ 0.8] kvm [1]: HYP mode not available",))
    with pytest.raises(InfraError) as info:
        check_health(facts, "vhe")
    text = str(info.value)
    assert "HYP mode not available" in text
    assert "/dev/kvm is missing" in text
    assert "no PMUv3" in text
    assert info.value.log_tail == "[ 0.8] kvm [1]: HYP mode not available"


def test_facts_survive_a_snapshot_meta_file() -> None:
    # A snapshot keeps its L1's facts in meta.json; a restore reads them back.
    dmesg = (DATA / "boot-max-vhe-6.1.txt").read_text()
    facts = parse_facts(_gather_output(dmesg, "armv8_pmuv3_0 cpu_cycles event=0x0011\n"))
    assert facts_from_json(json.loads(json.dumps(facts.to_json()))) == facts
    with pytest.raises(KeyError):
        facts_from_json({"kernel_release": "6.1"})


def test_gather_script_reads_sysfs_with_builtins(tmp_path: Path) -> None:
    # The script's event and caps loops, run by the host's sh on a fake sysfs: the same
    # lines as `$(cat ...)` gave.
    pmu = tmp_path / "armv8_pmuv3_0"
    (pmu / "events").mkdir(parents=True)
    (pmu / "caps").mkdir()
    (pmu / "events" / "cpu_cycles").write_text("event=0x0011\n")
    (pmu / "events" / "sw_incr").write_text("event=0x0000\n")
    (pmu / "caps" / "slots").write_text("0x00000000\n")
    script = GATHER_SCRIPT.replace("/sys/bus/event_source/devices", str(tmp_path))
    script = script.split(f"echo '{SECTION} dmesg'")[0].replace("uname -r", "echo 6.1")
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    facts = parse_facts(out)
    assert facts.pmu_events == {"cpu_cycles": 0x11, "sw_incr": 0}
    assert facts.pmu_caps == {"slots": "0x00000000"}
