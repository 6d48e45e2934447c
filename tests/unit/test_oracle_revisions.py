"""The oracle's predictions for the filter series' revisions (kernel-rules.yaml `revisions`),
against what the posted mails say each revision did (facts.md §6), written out by hand."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.errors import UsageError
from harness.events import CPU_CYCLES, SW_INCR
from harness.kernelrules import KernelRules, KernelVersion, all_rules, load_revisions, rules_for
from harness.oracle import PmuModel, Prediction, predict
from harness.scenario.model import Action, FilterCall, InitStep, Step, Workload

MAX = PmuModel(16, 0x20001, 0x10000018, frozenset({0x00, 0x11}))
A57 = PmuModel(10, 0x20001, 0x0, frozenset({0x00, 0x11}))
V510 = KernelVersion.parse("5.10.223-1")
WORK = Workload((CPU_CYCLES, SW_INCR), True, 1000)


def rev(name: str) -> KernelRules:
    return rules_for(V510, name)


def deny(base: int, n: int = 1) -> FilterCall:
    return FilterCall(base, n, int(Action.DENY), 0, 0)


def allow(base: int, n: int = 1) -> FilterCall:
    return FilterCall(base, n, int(Action.ALLOW), 0, 0)


def run(steps: Sequence[Step], kernel: KernelRules, pmu: PmuModel = MAX,
        no_pmu_vcpus: Sequence[int] = (), vcpus: int = 1) -> Prediction:
    return predict(pmu=pmu, rules=kernel, steps=steps, workload=WORK, vcpus=vcpus,
                   no_pmu_vcpus=no_pmu_vcpus)


def counts(p: Prediction) -> dict[str, bool | None]:
    return {c.ref: c.counts for c in p.counters}


def test_base_has_no_filter_attribute() -> None:
    p = run([deny(CPU_CYCLES), allow(0x08)], rev("base"))
    assert p.filter_errnos == ("ENXIO", "ENXIO")
    assert p.pmceid0 == 0x20001
    assert counts(p) == {"CPU_CYCLES": True, "SW_INCR": True, "cycle_counter": True}


def test_a_vcpu_without_pmu_answers_enodev_at_init_on_every_revision() -> None:
    # base's INIT would say ENXIO, but the VMM's IRQ step before it says ENODEV (measured).
    for name in ("base", "v1", "v3"):
        p = run([InitStep(1, 0)], rev(name), no_pmu_vcpus=[1], vcpus=2)
        assert p.steps[0].errno == "ENODEV", name


def test_filter_through_a_vcpu_without_pmu() -> None:
    def errno(name: str) -> str:
        steps = [FilterCall(0x11, 1, int(Action.DENY), 1, 0)]
        return run(steps, rev(name), no_pmu_vcpus=[1], vcpus=2).filter_errnos[0]

    assert (errno("base"), errno("v1"), errno("v3")) == ("ENXIO", "ENODEV", "ENODEV")


def test_v1_cycle_counter_follows_event_0_when_pmccfiltr_is_0() -> None:
    denied_cycles = run([deny(CPU_CYCLES)], rev("v1"))
    assert counts(denied_cycles)["cycle_counter"] is True
    assert counts(denied_cycles)["CPU_CYCLES"] is False
    allow_other = run([allow(0x08)], rev("v1"))
    assert counts(allow_other)["cycle_counter"] is False
    denied_zero = run([deny(0)], rev("v1"))
    assert counts(denied_zero)["cycle_counter"] is False


def cycles_with_pmccfiltr(steps: Sequence[Step], kernel: KernelRules, pmccfiltr: int,
                          pmu: PmuModel = MAX) -> dict[str, bool | None]:
    workload = Workload((CPU_CYCLES,), True, 1000, pmccfiltr)
    return counts(predict(pmu=pmu, rules=kernel, steps=steps, workload=workload))


@pytest.mark.parametrize("pmu", [MAX, A57])
def test_v1_cycle_counter_follows_the_written_pmccfiltr_event(pmu: PmuModel) -> None:
    # v1 looks PMCCNTR up with PMCCFILTR's event field: 0x08 written, only 0x08 allowed.
    assert cycles_with_pmccfiltr([allow(0x08)], rev("v1"), 0x08, pmu) == {
        "CPU_CYCLES": False, "cycle_counter": True}
    assert cycles_with_pmccfiltr([deny(0x08)], rev("v1"), 0x08, pmu) == {
        "CPU_CYCLES": True, "cycle_counter": False}
    # The field is 16 bits wide on v1 whatever the PMU: 0x411 is not 0x11 there.
    assert cycles_with_pmccfiltr([deny(0x411)], rev("v1"), 0x411, pmu)["cycle_counter"] is False
    assert cycles_with_pmccfiltr([deny(0x11)], rev("v1"), 0x411, pmu)["cycle_counter"] is True


@pytest.mark.parametrize("name", ["v2", "v3", "v3-fixes"])
def test_later_revisions_ignore_the_written_pmccfiltr_event(name: str) -> None:
    assert cycles_with_pmccfiltr([allow(0x08)], rev(name), 0x08) == {
        "CPU_CYCLES": False, "cycle_counter": False}
    assert cycles_with_pmccfiltr([deny(0x08)], rev(name), 0x08) == {
        "CPU_CYCLES": True, "cycle_counter": True}


def high_events(steps: Sequence[Step], kernel: KernelRules,
                pmu: PmuModel) -> dict[str, tuple[bool | None, bool]]:
    workload = Workload((0x411, 0x400, CPU_CYCLES), False, 1000)
    p = predict(pmu=pmu, rules=kernel, steps=steps, workload=workload)
    return {c.ref: (c.counts, c.zero_without_control) for c in p.counters}


@pytest.mark.parametrize("name", ["v3", "v3-fixes"])
def test_v3_masks_guest_event_numbers_to_10_bits_on_armv8_0(name: str) -> None:
    # 0x411 is CPU_CYCLES and follows its filter bit; 0x400 is SW_INCR, never filtered.
    assert high_events([allow(CPU_CYCLES)], rev(name), A57) == {
        "0x0411": (True, False), "0x0400": (True, False), "CPU_CYCLES": (True, False)}
    assert high_events([deny(CPU_CYCLES)], rev(name), A57) == {
        "0x0411": (False, False), "0x0400": (True, False), "CPU_CYCLES": (False, False)}
    assert high_events([deny(SW_INCR)], rev(name), A57)["0x0400"] == (True, False)


@pytest.mark.parametrize("name", ["base", "v1", "v2"])
def test_before_v3_guest_event_numbers_are_16_bits(name: str) -> None:
    # 0x411 and 0x400 are events QEMU does not have: 0 with or without a filter, and
    # that 0 needs no counting control to be believed.
    for steps in ([allow(CPU_CYCLES)], [deny(CPU_CYCLES)], []):
        seen = high_events(steps, rev(name), A57)
        assert seen["0x0411"] == (False, True), (name, steps)
        assert seen["0x0400"] == (False, True), (name, steps)


@pytest.mark.parametrize("name", ["base", "v1", "v2", "v3", "v3-fixes"])
def test_16_bit_event_numbers_stay_whole_on_max(name: str) -> None:
    seen = high_events([allow(CPU_CYCLES)], rev(name), MAX)
    assert seen["0x0411"] == (False, True)
    assert seen["0x0400"] == (False, True)
    assert seen["CPU_CYCLES"] == (True, False)


@pytest.mark.parametrize("name", ["v2", "v3", "v3-fixes"])
def test_later_revisions_filter_the_cycle_counter_by_cpu_cycles(name: str) -> None:
    assert counts(run([deny(CPU_CYCLES)], rev(name)))["cycle_counter"] is False
    assert counts(run([deny(0)], rev(name)))["cycle_counter"] is True


@pytest.mark.parametrize("name, pmceid0", [("v1", 0x20001), ("v2", 0x20001), ("v3", 0x1)])
def test_only_v3_masks_pmceid(name: str, pmceid0: int) -> None:
    assert run([deny(CPU_CYCLES)], rev(name)).pmceid0 == pmceid0


@pytest.mark.parametrize("name, errno", [("v1", "OK"), ("v2", "OK"), ("v3", "EINVAL"),
                                         ("base", "ENXIO")])
def test_event_space_on_armv8_0(name: str, errno: str) -> None:
    assert run([deny(0x400)], rev(name), A57).filter_errnos == (errno,)
    assert run([deny(0xFFFF)], rev(name), A57).filter_errnos == (errno,)


def test_no_revision_accepts_a_range_past_16_bits() -> None:
    for name in ("v1", "v2", "v3"):
        assert run([deny(0xFFFF, 2)], rev(name)).filter_errnos == ("EINVAL",)


def test_revisions_name_only_known_rules() -> None:
    known = {rule.id for rule in all_rules()}
    for revision in load_revisions():
        assert set(revision.without) | set(revision.with_) <= known, revision.id


def test_unknown_revision_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="known: base, v1"):
        rules_for(V510, "v4")


def test_rules_name_the_revision() -> None:
    assert "revision v2" in rev("v2").describe()
    assert rev("v3-fixes").has("ebusy-after-first-run")
    assert not rev("v3").has("v81-events-hidden-on-v80")
