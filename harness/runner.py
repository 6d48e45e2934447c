"""Run scenarios on machine x kernel x mode: one L1 per machine x kernel, cases inside it.

Data flows one way: scenarios -> plan (cases grouped by L1) -> images -> L1 -> L2 per case ->
observation -> oracle + verdict -> results. A failure of the machinery is recorded as an
error for the cases it touched, never as a kernel verdict.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.kernelrules import KernelVersion, rules_for
from harness.l2.linux import run_linux
from harness.l2.probe import run_probe
from harness.l2.remote import Remote
from harness.machine.profile import MachineProfile
from harness.observation import Observation
from harness.oracle import PmuModel, Prediction, predict
from harness.scenario.model import Scenario
from harness.verdict import NEEDS_A_LOOK, Check, Outcome, Verdict, judge


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    machine: str
    kernel: str
    mode: str

    @property
    def name(self) -> str:
        return f"{self.scenario.id}[{self.machine},{self.kernel},{self.mode}]"

    @property
    def slug(self) -> str:
        return f"{self.scenario.id}-{self.mode}"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    outcome: Outcome
    reason: str
    checks: tuple[Check, ...] = ()
    artefacts: Path | None = None
    kernel_version: str = ""
    seconds: float = 0.0
    bundle: Path | None = None  # the reproducer of a case that did not pass

    @property
    def needs_bundle(self) -> bool:
        return self.outcome in NEEDS_A_LOOK

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.case.name,
            "scenario": self.case.scenario.id,
            "machine": self.case.machine,
            "kernel": self.case.kernel,
            "mode": self.case.mode,
            "tags": list(self.case.scenario.tags),
            "result": self.outcome.value,
            "reason": self.reason,
            "kernel_version": self.kernel_version,
            "seconds": round(self.seconds, 3),
            "artefacts": str(self.artefacts) if self.artefacts else None,
            "bundle": str(self.bundle) if self.bundle else None,
            "checks": [
                {"name": c.name, "expected": c.expected, "observed": c.observed,
                 "result": c.outcome.value, "source": c.source}
                for c in self.checks
            ],
        }


@dataclass(frozen=True)
class Group:
    """Cases that share one L1 machine."""

    machine: str
    kernel: str
    cases: tuple[Case, ...]

    def directory(self, run_dir: Path) -> Path:
        """Where its L1's logs and its cases' artefacts go in a run."""
        return run_dir / f"{self.kernel}-{self.machine}"


def plan(scenarios: Iterable[Scenario], machines: Sequence[str], kernels: Sequence[str],
         modes: Sequence[str]) -> tuple[list[Group], list[CaseResult]]:
    """The cases to run, grouped per L1, and the ones skipped (with why)."""
    groups, skipped = [], []
    scenario_list = list(scenarios)
    for kernel in kernels:
        for machine in machines:
            cases = []
            for scenario in scenario_list:
                for mode in modes:
                    case = Case(scenario, machine, kernel, mode)
                    why = _skip_reason(case)
                    if why:
                        skipped.append(CaseResult(case, Outcome.SKIP, why))
                    else:
                        cases.append(case)
            if cases:
                groups.append(Group(machine, kernel, tuple(cases)))
    return groups, skipped


def _skip_reason(case: Case) -> str:
    if not case.scenario.applies_to(case.machine, case.kernel):
        return "scenario does not apply to this machine or kernel"
    if case.mode not in case.scenario.modes:
        return f"scenario does not support {case.mode} mode"
    return ""


@dataclass
class Environment:
    """One booted L1 and what the oracle needs to know about it."""

    remote: Remote
    pmu: PmuModel
    kernel_version: KernelVersion
    group_dir: Path


def pmu_model(profile: MachineProfile) -> PmuModel:
    """The oracle's view of a machine profile's PMU."""
    pmu = profile.pmu
    return PmuModel(pmu.event_bits, pmu.host_pmceid0, pmu.host_pmceid1,
                    frozenset(pmu.counting_events))


L2Runner = Callable[[Remote, Scenario, bool, Path], Observation]
"""(L1, scenario, with the filter or as the unfiltered control, artefacts dir) -> what L2 saw"""


@dataclass
class CaseRunner:
    """Runs one case inside a booted L1; modes map to their L2 runners."""

    l2_runners: dict[str, L2Runner] = field(
        default_factory=lambda: {"probe": run_probe, "linux": run_linux})

    def run(self, case: Case, env: Environment) -> CaseResult:
        case_dir = env.group_dir / case.slug
        case_dir.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        try:
            verdict = self._judge(case, env, case_dir)
        except InfraError as exc:
            result = CaseResult(case, Outcome.ERROR, f"infrastructure: {exc}", (), case_dir,
                                str(env.kernel_version), time.monotonic() - start)
        else:
            result = CaseResult(case, verdict.outcome, verdict.reason, verdict.checks,
                                case_dir, str(env.kernel_version), time.monotonic() - start)
        (case_dir / "verdict.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
        return result

    def _judge(self, case: Case, env: Environment, case_dir: Path) -> Verdict:
        scenario = case.scenario
        runner = self.l2_runners.get(case.mode)
        if runner is None:
            raise InfraError(f"{case.mode} mode is not available in this build")
        control = runner(env.remote, scenario, False, case_dir) if scenario.control else None
        seen = runner(env.remote, scenario, True, case_dir)
        prediction = _predict(scenario, env)
        _save_prediction(prediction, case_dir)
        return judge(scenario, prediction, seen, control)


def _predict(scenario: Scenario, env: Environment) -> Prediction:
    return predict(pmu=env.pmu, rules=rules_for(env.kernel_version), steps=scenario.steps,
                   workload=scenario.workload, vcpus=scenario.vcpus,
                   no_pmu_vcpus=scenario.no_pmu_vcpus)


def _save_prediction(prediction: Prediction, case_dir: Path) -> None:
    data = {
        "kernel_rules": prediction.rules.describe(),
        "steps": [{"step": o.step.describe(), "errno": o.errno, "reason": o.reason,
                   "implicit": o.implicit} for o in prediction.steps],
        "pmceid0": f"{prediction.pmceid0:#x}",
        "pmceid1": f"{prediction.pmceid1:#x}",
        "counters": [{"ref": c.ref, "counts": c.counts, "reason": c.reason}
                     for c in prediction.counters],
    }
    (case_dir / "oracle.json").write_text(json.dumps(data, indent=2) + "\n")


def group_error(group: Group, exc: InfraError, group_dir: Path) -> list[CaseResult]:
    """Every case of a group whose L1 could not be had is an error, with the evidence."""
    (group_dir / "infrastructure-error.txt").write_text(str(exc) + "\n")
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return [CaseResult(case, Outcome.ERROR, f"infrastructure: {first_line}", (), group_dir)
            for case in group.cases]
