"""Issue 12's scenarios judged on what real kernels printed (tests/data/probe-runs), and on
copies changed the way a broken kernel would print them: the new checks (a vCPU other than
the one that set the filter, whole PMCEID words, SET_PMU, the overflowing raw range) pass
on the real output and fail, naming the fact, on the changed one."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.filterfile import parse, render
from harness.kernelrules import KernelVersion, rules_for
from harness.observation import Observation, parse_probe_output
from harness.oracle import PmuModel, predict
from harness.paths import CONFIGS_DIR, SCENARIOS_DIR
from harness.results import Outcome
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario
from harness.verdict import Verdict, judge

RUNS = Path(__file__).parent.parent / "data" / "probe-runs"
SCENARIOS = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}
VERSIONS = {"5.10": "5.10.223", "6.1": "6.1.158", "6.12": "6.12.118"}
CAPTURES = sorted(path for path in RUNS.glob("*/*.filtered.json"))


def pmu_of(machine: str) -> PmuModel:
    data = yaml.safe_load((CONFIGS_DIR / "machines" / f"{machine}.yaml").read_text())["pmu"]
    return PmuModel(int(data["event_bits"]), int(data["host_pmceid0"]),
                    int(data["host_pmceid1"]), frozenset(data["counting_events"]))


def raw(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def observed(data: dict[str, Any]) -> Observation:
    return parse_probe_output(json.dumps(data))


def verdict_of(scenario: Scenario, kernel_machine: str, filtered: dict[str, Any],
               control: dict[str, Any], *, judged_as: str | None = None) -> Verdict:
    kernel, machine = kernel_machine.split("-", 1)
    version = VERSIONS[judged_as or kernel]
    prediction = predict(pmu=pmu_of(machine), rules=rules_for(KernelVersion.parse(version)),
                         steps=scenario.steps, workload=scenario.workload,
                         vcpus=scenario.vcpus, no_pmu_vcpus=scenario.no_pmu_vcpus)
    return judge(scenario, prediction, observed(filtered), observed(control))


def case(ident: str, kernel_machine: str) -> tuple[Scenario, dict[str, Any], dict[str, Any]]:
    return (SCENARIOS[ident], raw(RUNS / ident / f"{kernel_machine}.filtered.json"),
            raw(RUNS / ident / f"{kernel_machine}.control.json"))


def failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.outcome is Outcome.FAIL}


@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}-{p.name}" for p in CAPTURES])
def test_each_run_passes_and_read_the_scenarios_file(path: Path) -> None:
    ident, kernel_machine = path.parent.name, path.name.removesuffix(".filtered.json")
    scenario, filtered, control = case(ident, kernel_machine)
    # The capture made the calls the scenario makes today, in that order.
    assert parse((path.parent / "filtered.flt").read_text()) == parse(render(scenario))
    verdict = verdict_of(scenario, kernel_machine, filtered, control)
    assert verdict.outcome is Outcome.PASS, verdict.reason


def test_vcpu1_sees_the_filter_vcpu0_set() -> None:
    scenario, filtered, control = case("filter-seen-from-vcpu1", "6.12-max")
    assert [m["vcpu"] for m in filtered["measurements"]] == [0, 1]
    names = {c.name for c in verdict_of(scenario, "6.12-max", filtered, control).checks}
    assert {"vCPU 1: counter CPU_CYCLES", "vCPU 1: PMCEID bit of CPU_CYCLES (0x0011)"} <= names
    # A kernel whose filter reached only the vCPU that set it: vCPU 1 still counts and
    # still advertises CPU_CYCLES.
    leaky = json.loads(json.dumps(filtered))
    second = leaky["measurements"][1]
    second["counters"][0]["value"] = 4242
    second["pmceid0"] |= 1 << 0x11
    assert failed(verdict_of(scenario, "6.12-max", leaky, control)) == {
        "vCPU 1: counter CPU_CYCLES", "vCPU 1: PMCEID bit of CPU_CYCLES (0x0011)"}


def test_a_vcpu_that_was_not_measured_fails() -> None:
    scenario, filtered, control = case("filter-seen-from-vcpu1", "6.12-max")
    # What a probe before `measure` printed: vCPU 0's measurement only.
    old = {k: v for k, v in filtered.items() if k != "measurements"}
    verdict = verdict_of(scenario, "6.12-max", old, control)
    assert failed(verdict) == {"measurement on vCPU 1"}


def test_expectations_for_vcpu0_only_leave_vcpu1_to_the_oracle() -> None:
    scenario, filtered, control = case("filter-seen-from-vcpu1", "6.12-max")
    mine = replace(scenario, expect=replace(scenario.expect, vcpus=(0,)))
    checks = verdict_of(mine, "6.12-max", filtered, control).checks
    vcpu1 = [c for c in checks if c.name.startswith("vCPU 1: ")]
    assert vcpu1 and all(c.source.startswith("oracle") for c in vcpu1)
    assert all(c.outcome is Outcome.PASS for c in checks)


def test_written_words_are_compared_whole() -> None:
    scenario, filtered, control = case("deny-cycles-exact-words", "6.1-max")
    assert (filtered["measurement"]["pmceid0"], filtered["measurement"]["pmceid1"]) == (
        0x1, 0x10000018)
    # One stray bit in the high word (event 0x4020) is a different PMCEID1.
    stray = json.loads(json.dumps(filtered))
    for view in (stray["measurement"], *stray["measurements"]):
        view["pmceid1"] |= 1 << 32
    verdict = verdict_of(scenario, "6.1-max", stray, control)
    assert failed(verdict) == {"guest PMCEID1"}
    assert "expected 0x10000018" in verdict.reason and "0x110000018" in verdict.reason


def test_a_word_written_derive_follows_the_kernel() -> None:
    # chain-advertised derives PMCEID0: CHAIN's bit from 6.2 on. 5.10's output judged as
    # 6.12 lacks it, and the derived word says so.
    scenario, filtered, control = case("chain-advertised", "5.10-max")
    assert verdict_of(scenario, "5.10-max", filtered, control).outcome is Outcome.PASS
    verdict = verdict_of(scenario, "5.10-max", filtered, control, judged_as="6.12")
    assert failed(verdict) == {"guest PMCEID0"}
    assert "chain-advertised" in next(c.source for c in verdict.checks
                                      if c.name == "guest PMCEID0")


def test_set_pmu_errnos_differ_by_kernel_and_the_oracle_knows() -> None:
    for ident, old, new in (("set-pmu-after-filter", ["ENXIO", "ENXIO"], ["OK", "ENXIO"]),
                            ("set-pmu-after-run", ["ENXIO", "EBUSY"], ["EBUSY", "EBUSY"])):
        got = {}
        for kernel in ("5.10", "6.1"):
            data = raw(RUNS / ident / f"{kernel}-max.filtered.json")
            got[kernel] = [s["error"] or "OK" for s in data["steps"] if s["op"] == "set-pmu"]
        assert got == {"5.10": old, "6.1": new}
        # 5.10's answers judged as 6.1 fail on the SET_PMU checks, naming the rule.
        scenario, filtered, control = case(ident, "5.10-max")
        verdict = verdict_of(scenario, "5.10-max", filtered, control, judged_as="6.1")
        assert verdict.outcome is Outcome.FAIL
        assert all("SET_PMU" in name for name in failed(verdict))
        assert "set-pmu" in verdict.reason


def test_the_overflowing_raw_range_is_the_kernels_einval() -> None:
    for machine in ("max", "cortex-a57"):
        scenario, filtered, control = case("selftest-invalid-nevents-overflow", f"6.1-{machine}")
        [call] = [s for s in filtered["steps"] if s["op"] == "filter"]
        assert (call["base"], call["nevents"], call["error"]) == (0x8000, 0x8001, "EINVAL")
        # A kernel that added the u16 fields in 16 bits would take [0x8000, 0x1) and answer 0.
        accepted = json.loads(json.dumps(filtered))
        next(s for s in accepted["steps"] if s["op"] == "filter").update(errno=0, error="")
        verdict = verdict_of(scenario, f"6.1-{machine}", accepted, control)
        assert failed(verdict) == {
            "errno of filter call 1 (line 10: allow [0x8000, 0x10001) via vCPU 0)"}
