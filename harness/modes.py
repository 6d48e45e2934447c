"""The L2 modes: everything a mode is, in one registry.

A mode is how a case reaches the PMU from L2: ``probe`` (our minimal VMM on L1's
``/dev/kvm``) or ``linux`` (QEMU + Linux + perf stat in L2). A new mode is one ``Mode``
here plus its runner module under ``harness/l2/``; the scenario parser, the planner, the
worker pool, the avocado front end and the reports all read this table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from harness.l2.guest import L2Session
    from harness.l2.remote import Remote
    from harness.observation import Observation
    from harness.scenario.model import Scenario

    L2Runner = Callable[[Remote, Scenario, bool, Path, L2Session], Observation]
    """(L1, scenario, with the filter or as the unfiltered control, artefacts dir, what
    linux mode keeps of L2 in this L1) -> what L2 saw"""


@dataclass(frozen=True)
class Capabilities:
    """What scenarios a mode can run. The scenario parser refuses the rest, naming the
    mode, what it lacks, ``why``, and the modes that can."""

    ordering_steps: bool = True     # init/run/set_pmu steps among the filter calls
    max_vcpus: int | None = None    # None: as many as a scenario may have
    vcpus_without_pmu: bool = True  # no_pmu_vcpus
    guest_pmccfiltr: bool = True    # the workload's own PMCCFILTR_EL0 value
    why: str = ""

    def lacks(self, *, ordering: bool, vcpus: int, without_pmu: bool,
              pmccfiltr: bool = False) -> list[str]:
        """What of a scenario this mode cannot run (empty: it can run it)."""
        missing = []
        if ordering and not self.ordering_steps:
            missing.append("ordering steps")
        if self.max_vcpus is not None and vcpus > self.max_vcpus:
            missing.append(f"{vcpus} vCPUs (at most {self.max_vcpus})")
        if without_pmu and not self.vcpus_without_pmu:
            missing.append("no_pmu_vcpus")
        if pmccfiltr and not self.guest_pmccfiltr:
            missing.append("a workload pmccfiltr (the guest's perf writes PMCCFILTR itself)")
        return missing


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    # "module:function" of its L2 runner, imported when a case runs: the registry stays
    # importable by the scenario parser without SSH or QEMU code.
    runner: str
    # Seconds per case, about the nightly's medians with both cores busy (probe 0.1-0.35 s,
    # 0.8 s on the debug build; linux 4.3-6.4 s with the small L2 kernel, 6.5 s with
    # Debian's; bench/speed_results.md): the order groups start in and where a long group
    # is cut into parts depend on it (harness/execute/balance.py), never a verdict or a
    # deadline.
    seconds_per_case: float
    # A worker's per-case deadline: far more than a case ever took (probe ~1-7 s, linux
    # ~15-40 s with both cores shared); past it the worker is stuck, not slow.
    case_deadline_seconds: float
    # What one avocado test (one case in its own L1) may take: an L1 boot, a cold image
    # build (about 20 s) and one retry in a fresh L1, on a loaded host.
    avocado_timeout_seconds: int
    default: bool = False  # chosen when the user names no mode
    can: Capabilities = Capabilities()

    def load_runner(self) -> L2Runner:
        module, _, function = self.runner.partition(":")
        runner: L2Runner = getattr(importlib.import_module(module), function)
        return runner


REGISTRY: dict[str, Mode] = {mode.name: mode for mode in (
    Mode("probe", "pmu-probe, our minimal VMM, on L1's /dev/kvm: errnos, PMCEID, counters",
         "harness.l2.probe:run_probe", seconds_per_case=0.3, case_deadline_seconds=300.0,
         avocado_timeout_seconds=600, default=True),
    Mode("linux", "QEMU + Linux in L2, the filter set through a preload, perf stat inside",
         "harness.l2.linux:run_linux", seconds_per_case=6.0, case_deadline_seconds=1200.0,
         avocado_timeout_seconds=1200,
         can=Capabilities(ordering_steps=False, vcpus_without_pmu=False,
                          guest_pmccfiltr=False,
                          why="it applies the filters just before the first PMU init of "
                              "a guest whose every vCPU has a PMU (the preload in L2's "
                              "QEMU)")),
)}

MODES: tuple[str, ...] = tuple(REGISTRY)
LINUX_MODE = "linux"  # the mode whose L2 is a Linux guest (--l2-kernel, --l2-boot)
DEFAULT_MODES: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if m.default)

