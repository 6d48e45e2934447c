"""One case inside a booted L1: L2 runs (control, then filtered), the oracle predicts, the
verdict judges. The machinery failing is an error for this case, never a kernel verdict.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import InfraError
from harness.execute.control import SharedControls
from harness.execute.health import console_size, kernel_health, with_health
from harness.kernelrules import KernelVersion, final_revision, rules_for
from harness.l2.guest import L2Session
from harness.l2.remote import Remote
from harness.machine.profile import MachineProfile
from harness.modes import REGISTRY
from harness.observation import observation_to_json
from harness.oracle import PmuModel, Prediction, predict
from harness.plan import Case, Group
from harness.results import CaseResult, FinalApiVerdict, Outcome, class_of_exception
from harness.scenario.model import Expectations, Scenario
from harness.verdict import Verdict, judge

log = logging.getLogger(__name__)

# What the L2 runs showed, beside the verdict: judged again by `review` against other
# predictions (another revision, the documented API) without booting anything.
OBSERVED = "observed.json"


@dataclass
class Environment:
    """One booted L1 and what the oracle needs to know about it."""

    remote: Remote
    pmu: PmuModel
    kernel_version: KernelVersion
    group_dir: Path
    revision: str | None = None  # of the filter series, on a kernel built from source
    # What the kernel was built from and why the oracle predicts what it does (oracle.json).
    prediction_source: str = ""
    console_log: Path | None = None  # L1's console: what its kernel logs, as it logs it
    # This L1's control runs, for the cases after the first that ask the same question.
    controls: SharedControls = field(default_factory=SharedControls)
    # Linux mode's L2 in this L1: its kernel staged, its snapshots taken.
    l2: L2Session = field(default_factory=L2Session)


def pmu_model(profile: MachineProfile) -> PmuModel:
    """The oracle's view of a machine profile's PMU."""
    pmu = profile.pmu
    return PmuModel(pmu.event_bits, pmu.host_pmceid0, pmu.host_pmceid1,
                    frozenset(pmu.counting_events))


def run_case(case: Case, env: Environment) -> CaseResult:
    """The case's result; its artefacts (filter files, L2 output, the oracle's prediction,
    ``verdict.json``) in ``<group dir>/<scenario>-<mode>/``."""
    case_dir = env.group_dir / case.slug
    start = time.monotonic()
    log_start = console_size(env.console_log)
    try:
        case_dir.mkdir(parents=True, exist_ok=True)
        verdict, final_api = _judge(case, env, case_dir)
    except (InfraError, OSError) as exc:  # OSError: the artefacts' disk is full
        result = case.result(Outcome.ERROR, f"infrastructure: {exc}", class_of_exception(exc))
        health = kernel_health(env.console_log, log_start, case_dir)
        if health is not None and health.check.outcome is Outcome.FAIL:
            # The kernel splat explains the failure: the kernel misbehaved (exit 1).
            result = replace(case.result(Outcome.FAIL, health.check.message()),
                             checks=(health.check,))
    else:
        health = kernel_health(env.console_log, log_start, case_dir)
        verdict = with_health(verdict, None if health is None else health.check)
        result = replace(case.result(verdict.outcome, verdict.reason), checks=verdict.checks,
                         final_api=final_api)
    result = replace(result, artefacts=str(case_dir), kernel_version=str(env.kernel_version),
                     seconds=time.monotonic() - start, kernel_revision=env.revision,
                     l1_checks_off="" if health is None else health.checks_off)
    _keep(case_dir / "verdict.json", json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _judge(case: Case, env: Environment, case_dir: Path
           ) -> tuple[Verdict, FinalApiVerdict | None]:
    scenario = case.scenario
    runner = REGISTRY[case.mode].load_runner()
    control = (env.controls.observe(case.mode, env.remote, scenario, case_dir, env.l2)
               if scenario.control else None)
    seen = runner(env.remote, scenario, True, case_dir, env.l2)
    _keep(case_dir / OBSERVED, json.dumps(
        {"filtered": observation_to_json(seen),
         "control": observation_to_json(control) if control is not None else None},
        indent=1) + "\n")
    prediction = _predict(scenario, env, env.revision)
    _save_prediction(prediction, case_dir, env.prediction_source)
    final = final_revision()
    if env.revision is None or env.revision == final:
        return judge(scenario, prediction, seen, control), None
    # An earlier revision of the series: a scenario's written expectations state the
    # documented (final) API, so the revision is judged by its own prediction alone,
    # and the scenario as written is judged against the final revision's prediction.
    own = judge(replace(scenario, expect=Expectations()), prediction, seen, control)
    against_final = _predict(scenario, env, final)
    _save_prediction(against_final, case_dir, env.prediction_source,
                     "oracle-final-api.json")
    other = judge(scenario, against_final, seen, control)
    differs = tuple(c.name for c in other.checks if c.outcome is not Outcome.PASS)
    return own, FinalApiVerdict(final, other.outcome, other.reason, differs)


def _predict(scenario: Scenario, env: Environment, revision: str | None) -> Prediction:
    return predict(pmu=env.pmu, rules=rules_for(env.kernel_version, revision),
                   steps=scenario.steps, workload=scenario.workload, vcpus=scenario.vcpus,
                   no_pmu_vcpus=scenario.no_pmu_vcpus)


def _save_prediction(prediction: Prediction, case_dir: Path, source: str,
                     name: str = "oracle.json") -> None:
    data = {
        "source": source,
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


def group_error(group: Group, exc: Exception, group_dir: Path) -> list[CaseResult]:
    """Every case of a group whose L1 could not be had is an error, with the evidence;
    its class is the exception's (``results.class_of_exception``)."""
    _keep(group_dir / "infrastructure-error.txt", str(exc) + "\n")
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    error_class = class_of_exception(exc)
    what = error_class.value.replace("-", " ")  # "infrastructure", "harness bug", ...
    return [replace(case.result(Outcome.ERROR, f"{what}: {first_line}", error_class),
                    artefacts=str(group_dir))
            for case in group.cases]
