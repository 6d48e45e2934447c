"""Issue 22's scenarios judged on what real kernels printed (tests/data/issue22-runs: the
filter series' v1, v2 and v3 built from source), and on copies changed the way a kernel
with the other behaviour would print them: PMCCNTR looked up with PMCCFILTR's event field
(v1), and guest event numbers kept at 16 bits on an ARMv8.0 PMU (before v3)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.filterfile import parse, render
from harness.kernelrules import KernelVersion, rules_for
from harness.observation import parse_probe_output
from harness.oracle import predict
from harness.paths import SCENARIOS_DIR
from harness.results import Outcome
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Expectations
from harness.verdict import Verdict, judge

from .test_probe_runs import pmu_of

RUNS = Path(__file__).parent.parent / "data" / "issue22-runs"
SCENARIOS = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}
V510 = KernelVersion.parse("5.10.223-1")  # the tree the revisions are built on
CAPTURES = sorted(RUNS.glob("*/*.filtered.json"))


def load(ident: str, kernel_machine: str, label: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RUNS / ident / f"{kernel_machine}.{label}.json")
                                      .read_text())
    return data


def verdict_of(ident: str, kernel_machine: str, filtered: dict[str, Any],
               *, revision: str | None = None) -> Verdict:
    _, kernel, machine = kernel_machine.split("-", 2)  # filter-<revision>-<machine>
    scenario = SCENARIOS[ident]
    prediction = predict(pmu=pmu_of(machine), rules=rules_for(V510, revision or kernel),
                         steps=scenario.steps, workload=scenario.workload,
                         vcpus=scenario.vcpus, no_pmu_vcpus=scenario.no_pmu_vcpus)
    control = load(ident, kernel_machine, "control")
    return judge(scenario, prediction, parse_probe_output(json.dumps(filtered)),
                 parse_probe_output(json.dumps(control)))


def failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.outcome is Outcome.FAIL}


def measurement(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data["measurements"][0]
    return found


def set_counter(data: dict[str, Any], event: int, value: int) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    counters = [c for c in measurement(changed)["counters"] if c["event"] == event]
    assert len(counters) == 1
    counters[0]["value"] = value
    return changed


def test_the_captures_are_there() -> None:
    assert len(CAPTURES) == 10, "a loop over no captures would prove nothing"


@pytest.mark.parametrize("path", CAPTURES, ids=[f"{p.parent.name}-{p.name}" for p in CAPTURES])
def test_each_run_passes_on_its_own_revision(path: Path) -> None:
    ident, kernel_machine = path.parent.name, path.name.removesuffix(".filtered.json")
    assert parse((path.parent / "filtered.flt").read_text()) == parse(render(SCENARIOS[ident]))
    verdict = verdict_of(ident, kernel_machine, load(ident, kernel_machine, "filtered"))
    assert verdict.outcome is Outcome.PASS, verdict.reason


@pytest.mark.parametrize("ident", ["pmccfiltr-event-allowed", "pmccfiltr-event-denied"])
def test_the_probe_wrote_pmccfiltr_and_kvm_kept_its_event_field(ident: str) -> None:
    for kernel in ("filter-v1", "filter-v3"):
        seen = measurement(load(ident, f"{kernel}-max", "filtered"))
        assert (seen["pmccfiltr_written"], seen["pmccfiltr_read"]) == (0x08, 0x08)


def test_v1s_cycle_counter_is_the_one_v3_is_judged_wrong_for() -> None:
    # allow only 0x08, 0x08 written to PMCCFILTR: v1 counts PMCCNTR, v3 stops it.
    v1 = load("pmccfiltr-event-allowed", "filter-v1-max", "filtered")
    v3 = load("pmccfiltr-event-allowed", "filter-v3-max", "filtered")
    assert measurement(v1)["cycle_counter"] > 0
    assert measurement(v3)["cycle_counter"] == 0
    assert "counter cycle_counter" in failed(
        verdict_of("pmccfiltr-event-allowed", "filter-v1-max", v1, revision="v3"))
    assert "counter cycle_counter" in failed(
        verdict_of("pmccfiltr-event-allowed", "filter-v3-max", v3, revision="v1"))


def test_a_v3_whose_pmccntr_stopped_under_deny_0x08_fails() -> None:
    v3 = load("pmccfiltr-event-denied", "filter-v3-max", "filtered")
    stopped = copy.deepcopy(v3)
    measurement(stopped)["cycle_counter"] = 0
    assert failed(verdict_of("pmccfiltr-event-denied", "filter-v3-max", stopped)) == {
        "counter cycle_counter"}


def test_0x411_counts_cycles_only_where_events_are_masked() -> None:
    v3 = load("event-number-masked-allow", "filter-v3-cortex-a57", "filtered")
    v2 = load("event-number-masked-allow", "filter-v2-cortex-a57", "filtered")
    assert measurement(v3)["counters"][0]["event"] == 0x411
    assert measurement(v3)["counters"][0]["value"] > 0
    assert measurement(v2)["counters"][0]["value"] == 0
    # A v3 that kept 0x411 whole (mutant event-number-not-masked) reads 0 there.
    unmasked = set_counter(v3, 0x411, 0)
    assert failed(verdict_of("event-number-masked-allow", "filter-v3-cortex-a57",
                             unmasked)) == {"counter 0x0411"}
    # A v2 that masked it would count cycles on a counter its own rules say is empty.
    masked = set_counter(v2, 0x411, 25000)
    assert failed(verdict_of("event-number-masked-allow", "filter-v2-cortex-a57",
                             masked)) == {"counter 0x0411"}


def test_0x411_obeys_0x11s_filter_bit_on_v3() -> None:
    v3 = load("event-number-masked-deny", "filter-v3-cortex-a57", "filtered")
    leaking = set_counter(v3, 0x411, 25000)
    assert failed(verdict_of("event-number-masked-deny", "filter-v3-cortex-a57",
                             leaking)) == {"counter 0x0411"}


def test_0x400_is_sw_incr_only_where_events_are_masked() -> None:
    v3 = load("event-number-masked-sw-incr", "filter-v3-cortex-a57", "filtered")
    v2 = load("event-number-masked-sw-incr", "filter-v2-cortex-a57", "filtered")
    loops = measurement(v3)["loops"]
    assert [c["value"] for c in measurement(v3)["counters"]] == [loops, loops]
    assert [c["value"] for c in measurement(v2)["counters"]] == [0, loops]
    # Both probes wrote PMSWINC to both counters: what differs is the kernel.
    assert measurement(v3)["swinc_mask"] == measurement(v2)["swinc_mask"] == 0b11
    assert failed(verdict_of("event-number-masked-sw-incr", "filter-v3-cortex-a57",
                             set_counter(v3, 0x400, 0))) == {"counter 0x0400"}


def test_on_max_0x411_and_0x400_read_0_without_a_counting_control() -> None:
    v3 = load("event-number-kept-on-max", "filter-v3-max", "filtered")
    verdict = verdict_of("event-number-kept-on-max", "filter-v3-max", v3)
    by_name = {c.name: c for c in verdict.checks}
    assert by_name["counter 0x0411"].outcome is Outcome.PASS
    assert by_name["counter 0x0411"].expected == "0 (no event this machine counts)"
    # A kernel that folded them onto their 10-bit aliases on max would count.
    folded = set_counter(set_counter(v3, 0x411, 9000000), 0x400, 2000)
    assert failed(verdict_of("event-number-kept-on-max", "filter-v3-max", folded)) == {
        "counter 0x0411", "counter 0x0400"}


def test_a_written_not_counting_still_needs_a_counting_control() -> None:
    # Only the oracle's own "no such event here" passes on a 0 alone; a scenario that
    # writes `not_counting: [0x411]` asks whether the filter stopped it, which the control
    # (0 too) cannot show.
    ident, kernel_machine = "event-number-kept-on-max", "filter-v3-max"
    scenario = replace(SCENARIOS[ident], expect=Expectations(not_counting=("0x0411",)))
    prediction = predict(pmu=pmu_of("max"), rules=rules_for(V510, "v3"), steps=scenario.steps,
                         workload=scenario.workload)
    verdict = judge(scenario, prediction,
                    parse_probe_output(json.dumps(load(ident, kernel_machine, "filtered"))),
                    parse_probe_output(json.dumps(load(ident, kernel_machine, "control"))))
    assert {c.name: c.outcome for c in verdict.checks}["counter 0x0411"] is Outcome.INCONCLUSIVE
