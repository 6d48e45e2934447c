"""Range boundaries and refused first calls (issue 22) judged on what real kernels printed
(tests/data/probe-runs), and on copies changed the way a kernel with an off-by-one at a
range's end, or one whose refused call set the default, printed them (the mutants
range-start-off-by-one, range-end-off-by-one and refused-call-sets-default did, in
filter-v3 runs): each change fails the scenario on the neighbour it moved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.test_probe_runs import case, failed, verdict_of

STALL_FRONTEND, STALL_BACKEND = 0x23, 0x24
PMCEID1_BIT = {STALL_FRONTEND: 1 << 3, STALL_BACKEND: 1 << 4}
KERNELS = ("5.10", "6.1", "6.12")


def with_pmceid1(filtered: dict[str, Any], event: int, present: bool) -> dict[str, Any]:
    """A copy whose measured PMCEID1 has ``event``'s bit set or cleared."""
    changed: dict[str, Any] = json.loads(json.dumps(filtered))
    for view in (changed["measurement"], *changed.get("measurements", ())):
        bit = PMCEID1_BIT[event]
        view["pmceid1"] = view["pmceid1"] | bit if present else view["pmceid1"] & ~bit
    return changed


@pytest.mark.parametrize("kernel", KERNELS)
def test_both_neighbours_of_each_boundary_are_what_the_real_kernel_showed(kernel: str) -> None:
    # A DENY from 0x24 hides 0x24 and keeps 0x23; an ALLOW up to 0x24 shows 0x23, not 0x24.
    for ident, shown, hidden in (("range-deny-start", STALL_FRONTEND, STALL_BACKEND),
                                 ("range-allow-end", STALL_FRONTEND, STALL_BACKEND)):
        _, filtered, _ = case(ident, f"{kernel}-max")
        pmceid1 = filtered["measurement"]["pmceid1"]
        assert pmceid1 & PMCEID1_BIT[shown] and not pmceid1 & PMCEID1_BIT[hidden], ident


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_deny_that_starts_one_early_fails_on_the_event_before(kernel: str) -> None:
    # range-start-off-by-one: DENY [0x24, 0x3d) also clears 0x23.
    scenario, filtered, control = case("range-deny-start", f"{kernel}-max")
    early = with_pmceid1(filtered, STALL_FRONTEND, present=False)
    assert failed(verdict_of(scenario, f"{kernel}-max", early, control)) == {
        "PMCEID bit of STALL_FRONTEND (0x0023)"}


@pytest.mark.parametrize("kernel", KERNELS)
def test_an_allow_that_ends_one_late_fails_on_the_event_after(kernel: str) -> None:
    # range-end-off-by-one: ALLOW [0x11, 0x24) also sets 0x24.
    scenario, filtered, control = case("range-allow-end", f"{kernel}-max")
    late = with_pmceid1(filtered, STALL_BACKEND, present=True)
    assert failed(verdict_of(scenario, f"{kernel}-max", late, control)) == {
        "PMCEID bit of STALL_BACKEND (0x0024)"}


@pytest.mark.parametrize("machine", ["max", "cortex-a57"])
def test_a_refused_deny_that_set_the_default_fails_on_the_counters(machine: str) -> None:
    # refused-call-sets-default: the refused DENY filled the bitmap, so the valid ALLOW of
    # INST_RETIRED after it denied nothing: CPU_CYCLES counts and stays advertised.
    scenario, filtered, control = case("refused-range-deny-then-allow", f"6.1-{machine}")
    assert [s["error"] or "OK" for s in filtered["steps"] if s["op"] == "filter"] == [
        "EINVAL", "OK"]
    leaked: dict[str, Any] = json.loads(json.dumps(control))
    leaked["steps"] = filtered["steps"]
    assert failed(verdict_of(scenario, f"6.1-{machine}", leaked, control)) >= {
        "counter CPU_CYCLES", "counter cycle_counter", "PMCEID bit of CPU_CYCLES (0x0011)"}
