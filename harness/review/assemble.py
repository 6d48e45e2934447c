"""A review assembled from its inputs: every case judged again against its tree's API,
the behaviours compared, the findings gathered. Pure: no machine, no build."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from harness.execute.case import pmu_model
from harness.execute.health import CHECK_NAME
from harness.kernelrules import KernelVersion, rules_for
from harness.machine.profile import load_machine_profile
from harness.observation import observation_from_json
from harness.oracle import PmuModel
from harness.paths import SCENARIOS_DIR
from harness.results import Outcome
from harness.review.analysis import JudgedCase, behaviours
from harness.review.inputs import CaseInput, ReviewInputs
from harness.review.judging import for_the_kernel, judge_against_api, with_health
from harness.review.model import Finding, Review
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario


@cache
def _scenarios() -> dict[str, Scenario]:
    return {s.id: s for s in load_scenarios([SCENARIOS_DIR])}


@cache
def _pmu(machine: str) -> PmuModel:
    return pmu_model(load_machine_profile(machine))


def judged_case(case: CaseInput) -> JudgedCase:
    """A finished case judged again against its tree's API, its health check kept; a case
    with no observation (it erred) or whose scenario is gone stays unjudged."""
    base = JudgedCase(case.scenario, case.machine, case.mode, case.outcome, case.reason,
                      case.artefacts)
    scenario = _scenarios().get(case.scenario)
    if case.observed is None or not case.kernel_version or scenario is None:
        return base
    control = case.observed.get("control")
    judgement = judge_against_api(
        scenario, _pmu(case.machine), KernelVersion.parse(case.kernel_version),
        observation_from_json(case.observed["filtered"]),
        None if control is None else observation_from_json(control))
    return replace(base, judgement=with_health(judgement, case.health))


def _agreed(cases: list[JudgedCase]) -> list[JudgedCase]:
    """Each case's explanations as the kernel's cases agree on them (``for_the_kernel``)."""
    judged = [c for c in cases if c.judgement is not None]
    agreed = iter(for_the_kernel([c.judgement for c in judged if c.judgement is not None]))
    return [replace(c, judgement=next(agreed)) if c.judgement is not None else c
            for c in cases]


def _findings(role: str, cases: Sequence[JudgedCase]) -> tuple[list[Finding], list[Finding]]:
    health, unjudged = [], []
    for case in cases:
        if case.judgement is None:
            if case.outcome is not Outcome.SKIP:
                unjudged.append(Finding(role, case.name, case.reason[:300], case.artefacts))
            continue
        for judged in case.judgement.checks:
            if judged.check.name == CHECK_NAME and judged.check.outcome is Outcome.FAIL:
                health.append(Finding(role, case.name, judged.check.observed[:500],
                                      case.artefacts))
    return health, unjudged


def assemble(inputs: ReviewInputs) -> Review:
    roles = {role: _agreed([judged_case(c) for c in cases])
             for role, cases in inputs.cases.items()}
    health: list[Finding] = []
    unjudged: list[Finding] = []
    for role, cases in roles.items():
        found, lost = _findings(role, cases)
        health += found
        unjudged += lost
    version = KernelVersion.parse(next((v.version for v in inputs.variants if v.version),
                                       "0.0"))
    return Review(
        series=inputs.series, patches=inputs.patches,
        api=f"Linux {version}: {rules_for(version).describe()}",
        machines=inputs.machines, variants=inputs.variants, behaviours=behaviours(roles),
        health=tuple(health), unjudged=tuple(unjudged), warnings=inputs.warnings,
        thread=inputs.thread, commands=inputs.commands, date=inputs.date,
        harness=inputs.harness)
