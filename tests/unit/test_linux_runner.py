"""Linux mode's runner and the verdict, on L2 consoles captured from a real 2-vCPU run
(debian-6.1 on max, filter-seen-from-vcpu1, L2 on the distro kernel): every measured vCPU
is judged on its own perf section, and a vCPU whose counts betray the filter fails."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.cliargs import add_l2_arguments, l2_settings
from harness.errors import UsageError
from harness.execute.case import Environment, pmu_model, run_case
from harness.kernelrules import KernelVersion
from harness.l2.guest import L2Session
from harness.l2.settings import L2_KERNEL_DISTRO, L2Settings
from harness.machine import load_machine_profile
from harness.paths import SCENARIOS_DIR
from harness.plan import Case
from harness.results import Outcome
from harness.scenario.discover import load_scenarios

DATA = Path(__file__).parent.parent / "data" / "l2"
CAPTURE = "6.1-max-filter-seen-from-vcpu1"


@dataclass(frozen=True)
class Output:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class L2Replay:
    """L1 as linux mode sees it: QEMU prints the captured console of the run it is asked
    for, and the preload's log is the captured one (filtered run) or empty (control)."""

    consoles: dict[str, str]
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float) -> Output:
        self.commands.append(command)
        label = "filtered" if "filtered.filter" in command else "control"
        if "qemu-system-aarch64" in command:
            return Output(0, self.consoles[label])
        if command.startswith("cat ") and label == "filtered":
            return Output(0, (DATA / f"{CAPTURE}-filtered.filterlog").read_text())
        return Output(0)

    def put(self, local: Path, remote: str, timeout: float = 300.0) -> None:
        raise AssertionError("the distro kernel's L2 needs nothing copied into L1")


def run(tmp_path: Path, consoles: dict[str, str]) -> tuple[L2Replay, dict[str, str]]:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR])
                   if s.id == "filter-seen-from-vcpu1"]
    remote = L2Replay(consoles)
    env = Environment(remote, pmu_model(load_machine_profile("max")),
                      KernelVersion.parse("6.1.192-1"), tmp_path,
                      l2=L2Session(L2Settings(kernel=L2_KERNEL_DISTRO)))
    result = run_case(Case(scenario, "max", "debian-6.1", "linux"), env)
    checks = {c.name: c.outcome.value for c in result.checks}
    return remote, {"outcome": result.outcome.value, **checks}


def captured(label: str) -> str:
    return (DATA / f"{CAPTURE}-{label}.console").read_text()


def test_both_vcpus_are_measured_and_judged(tmp_path: Path) -> None:
    remote, checks = run(tmp_path, {"control": captured("control"),
                                    "filtered": captured("filtered")})
    assert checks["outcome"] == Outcome.PASS.value
    for vcpu in (0, 1):
        assert checks[f"vCPU {vcpu}: counter CPU_CYCLES"] == "pass"
        assert checks[f"vCPU {vcpu}: PMCEID bit of CPU_CYCLES (0x0011)"] == "pass"
    # L2 has the scenario's two vCPUs, and perf runs pinned to each.
    qemu = [c for c in remote.commands if "qemu-system-aarch64" in c]
    assert len(qemu) == 2 and all("-smp 2 " in c for c in qemu)
    assert all("pmu_harness.cpus=0,1" in c for c in qemu)
    observed = json.loads((tmp_path / "filter-seen-from-vcpu1-linux" / "observed.json")
                          .read_text())
    assert [o["vcpu"] for o in observed["filtered"]["others"]] == [1]


def test_a_vcpu_that_counts_a_denied_event_fails(tmp_path: Path) -> None:
    # vCPU 1's section of the filtered run replaced by the control's: CPU_CYCLES counts there.
    filtered, control = captured("filtered"), captured("control")
    begin, end = "PMU-HARNESS-PERF-CPU1-BEGIN", "PMU-HARNESS-PERF-CPU1-END"
    leaked = (filtered[:filtered.index(begin)] + control[control.index(begin):
              control.index(end)] + filtered[filtered.index(end):])
    _, checks = run(tmp_path, {"control": control, "filtered": leaked})
    assert checks["outcome"] == Outcome.FAIL.value
    assert checks["vCPU 1: counter CPU_CYCLES"] == "fail"
    assert checks["vCPU 0: counter CPU_CYCLES"] == "pass"


def test_l2_options_boot_by_default_and_restore_only_the_small_kernel() -> None:
    parser = argparse.ArgumentParser()
    add_l2_arguments(parser)
    assert not l2_settings(parser.parse_args([])).restores
    assert l2_settings(parser.parse_args(["--l2-restore"])).restores
    assert not l2_settings(parser.parse_args(["--l2-kernel", "distro"])).restores
    with pytest.raises(UsageError, match="--l2-restore needs --l2-kernel small"):
        l2_settings(parser.parse_args(["--l2-kernel", "distro", "--l2-restore"]))
