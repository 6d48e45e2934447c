"""Run scenarios on machine x kernel x mode: one L1 per machine x kernel, cases inside it.

Data flows one way: scenarios -> plan (cases grouped by L1) -> images -> L1 -> L2 per case ->
observation -> oracle + verdict -> results. A failure of the machinery is recorded as an
error for the cases it touched, never as a kernel verdict.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.kernelrules import KernelVersion, final_revision, rules_for
from harness.l2.linux import run_linux
from harness.l2.probe import run_probe
from harness.l2.remote import Remote
from harness.machine.profile import MachineProfile
from harness.observation import Observation
from harness.oracle import PmuModel, Prediction, predict
from harness.scenario.model import Expectations, Scenario
from harness.verdict import NEEDS_A_LOOK, Check, FinalApiVerdict, Outcome, Verdict, judge

log = logging.getLogger(__name__)


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
    # On a kernel built with an older revision of the series: the same observation judged
    # against the final API's prediction (a reviewer's "what does this revision get wrong").
    final_api: FinalApiVerdict | None = None
    kernel_revision: str | None = None  # of the filter series (source-built kernels)

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
            **({"kernel_revision": self.kernel_revision} if self.kernel_revision else {}),
            "seconds": round(self.seconds, 3),
            "artefacts": str(self.artefacts) if self.artefacts else None,
            "bundle": str(self.bundle) if self.bundle else None,
            **({"final_api": self.final_api.to_json()} if self.final_api else {}),
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
    revision: str | None = None  # of the filter series, on a kernel built from source


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
        start = time.monotonic()
        try:
            case_dir.mkdir(parents=True, exist_ok=True)
            verdict, final_api = self._judge(case, env, case_dir)
        except (InfraError, OSError) as exc:  # OSError: the artefacts' disk is full
            result = CaseResult(case, Outcome.ERROR, f"infrastructure: {exc}", (), case_dir,
                                str(env.kernel_version), time.monotonic() - start,
                                kernel_revision=env.revision)
        else:
            result = CaseResult(case, verdict.outcome, verdict.reason, verdict.checks,
                                case_dir, str(env.kernel_version), time.monotonic() - start,
                                final_api=final_api, kernel_revision=env.revision)
        _keep(case_dir / "verdict.json", json.dumps(result.to_json(), indent=2) + "\n")
        return result

    def _judge(self, case: Case, env: Environment, case_dir: Path
               ) -> tuple[Verdict, FinalApiVerdict | None]:
        scenario = case.scenario
        runner = self.l2_runners.get(case.mode)
        if runner is None:
            raise InfraError(f"{case.mode} mode is not available in this build")
        control = runner(env.remote, scenario, False, case_dir) if scenario.control else None
        seen = runner(env.remote, scenario, True, case_dir)
        prediction = _predict(scenario, env, env.revision)
        _save_prediction(prediction, case_dir)
        final = final_revision()
        if env.revision is None or env.revision == final:
            return judge(scenario, prediction, seen, control), None
        # An earlier revision of the series: a scenario's written expectations state the
        # documented (final) API, so the revision is judged by its own prediction alone,
        # and the scenario as written is judged against the final revision's prediction.
        own = judge(replace(scenario, expect=Expectations()), prediction, seen, control)
        against_final = _predict(scenario, env, final)
        _save_prediction(against_final, case_dir, "oracle-final-api.json")
        other = judge(scenario, against_final, seen, control)
        differs = tuple(c.name for c in other.checks if c.outcome is not Outcome.PASS)
        return own, FinalApiVerdict(final, other.outcome, other.reason, differs)


def _predict(scenario: Scenario, env: Environment, revision: str | None) -> Prediction:
    return predict(pmu=env.pmu, rules=rules_for(env.kernel_version, revision),
                   steps=scenario.steps, workload=scenario.workload, vcpus=scenario.vcpus,
                   no_pmu_vcpus=scenario.no_pmu_vcpus)


def _save_prediction(prediction: Prediction, case_dir: Path, name: str = "oracle.json") -> None:
    data = {
        "kernel_rules": prediction.rules.describe(),
        "steps": [{"step": o.step.describe(), "errno": o.errno, "reason": o.reason,
                   "implicit": o.implicit} for o in prediction.steps],
        "pmceid0": f"{prediction.pmceid0:#x}",
        "pmceid1": f"{prediction.pmceid1:#x}",
        "counters": [{"ref": c.ref, "counts": c.counts, "reason": c.reason}
                     for c in prediction.counters],
    }
    (case_dir / name).write_text(json.dumps(data, indent=2) + "\n")


def _keep(path: Path, text: str) -> None:
    """Write an artefact; on a full disk the verdict it records still stands (in memory,
    then in results.json if that fits), so a failed write is logged, not raised."""
    try:
        path.write_text(text)
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc)


def group_error(group: Group, exc: InfraError, group_dir: Path) -> list[CaseResult]:
    """Every case of a group whose L1 could not be had is an error, with the evidence."""
    _keep(group_dir / "infrastructure-error.txt", str(exc) + "\n")
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return [CaseResult(case, Outcome.ERROR, f"infrastructure: {first_line}", (), group_dir)
            for case in group.cases]
