"""Starter scenarios' written expectations agree with the oracle everywhere they apply, and
the verdict catches a wrong expectation and refuses to pass an unobservable one."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from harness.events import CYCLE_COUNTER
from harness.kernelrules import KernelVersion, rules_for
from harness.observation import Observation, StepResult, advertised_events
from harness.oracle import PmuModel, Prediction, predict
from harness.paths import CONFIGS_DIR, SCENARIOS_DIR
from harness.scenario.discover import load_scenarios
from harness.scenario.model import FilterCall, InitStep, Scenario
from harness.verdict import Outcome, judge

KERNELS = ("5.10.223", "6.1.158", "6.12.57", "7.3.0")


def pmu_of(machine: str) -> PmuModel:
    data = yaml.safe_load((CONFIGS_DIR / "machines" / f"{machine}.yaml").read_text())["pmu"]
    return PmuModel(int(data["event_bits"]), int(data["host_pmceid0"]),
                    int(data["host_pmceid1"]), frozenset(data["counting_events"]))


def as_observed(p: Prediction) -> Observation:
    """What a kernel that behaves exactly as documented would show."""
    steps = tuple(StepResult("filter" if isinstance(o.step, FilterCall) else
                             "init" if isinstance(o.step, InitStep) else "run",
                             o.step.vcpu, o.errno, o.implicit) for o in p.steps)
    counters: dict[str, int | None] = {c.ref: (1000 if c.counts else 0) for c in p.counters}
    return Observation("probe", steps, p.pmceid0, p.pmceid1,
                       advertised_events(p.pmceid0, p.pmceid1), counters, p.measured)


def run_pair(s: Scenario, machine: str, kernel: str) -> tuple[Prediction, Prediction]:
    rules = rules_for(KernelVersion.parse(kernel))
    pmu = pmu_of(machine)
    main = predict(pmu=pmu, rules=rules, steps=s.steps, workload=s.workload, vcpus=s.vcpus,
                   no_pmu_vcpus=s.no_pmu_vcpus)
    control = predict(pmu=pmu, rules=rules, steps=(), workload=s.workload, vcpus=s.vcpus,
                      no_pmu_vcpus=s.no_pmu_vcpus)
    return main, control


CASES = [(s, m, k) for s in load_scenarios([SCENARIOS_DIR])
         for m in ("max", "cortex-a57", "max-icount") for k in KERNELS
         if s.applies_to(m, "debian-6.1")]


@pytest.mark.parametrize(("scenario", "machine", "kernel"), CASES,
                         ids=[f"{s.id}-{m}-{k}" for s, m, k in CASES])
def test_written_expectations_agree_with_oracle(scenario: Scenario, machine: str,
                                                kernel: str) -> None:
    main, control = run_pair(scenario, machine, kernel)
    verdict = judge(scenario, main, as_observed(main), as_observed(control))
    assert verdict.outcome is Outcome.PASS, verdict.reason


def _scenario(ident: str) -> Scenario:
    (found,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return found


def test_wrong_expectation_names_event_and_both_values() -> None:
    scenario = _scenario("member-deny")
    main, control = run_pair(scenario, "max", "6.1.158")
    seen = as_observed(main)
    leaked = replace(seen, counters={**seen.counters, "CPU_CYCLES": 4242})
    verdict = judge(scenario, main, leaked, as_observed(control))
    assert verdict.outcome is Outcome.FAIL
    assert "CPU_CYCLES" in verdict.reason and "4242" in verdict.reason
    assert "expected 0" in verdict.reason


def test_derived_errno_mismatch_names_the_rule() -> None:
    scenario = _scenario("filter-after-run")
    main, control = run_pair(scenario, "max", "6.1.158")
    seen = as_observed(main)
    as_if_5_10 = replace(seen, steps=tuple(
        replace(s, errno="OK") if s.op == "filter" else s for s in seen.steps))
    verdict = judge(scenario, main, as_if_5_10, as_observed(control))
    assert verdict.outcome is Outcome.FAIL
    assert "ebusy-after-first-run" in verdict.reason and "EBUSY" in verdict.reason


def test_silent_counter_without_counting_control_is_inconclusive() -> None:
    scenario = _scenario("member-deny")
    main, control = run_pair(scenario, "max", "6.1.158")
    dead_control = as_observed(control)
    dead_control = replace(dead_control, counters=dict.fromkeys(dead_control.counters, 0))
    verdict = judge(scenario, main, as_observed(main), dead_control)
    assert verdict.outcome is not Outcome.PASS
    assert any(c.outcome is Outcome.INCONCLUSIVE for c in verdict.checks)


def test_no_control_means_not_counting_cannot_pass() -> None:
    scenario = _scenario("cycle-counter-deny")
    main, _ = run_pair(scenario, "max", "6.1.158")
    verdict = judge(scenario, main, as_observed(main), None)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert CYCLE_COUNTER in verdict.reason
