"""The oracle against the values measured on real kernels (facts.md §3) and its laws."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.events import CPU_CYCLES, SW_INCR
from harness.kernelrules import KernelRules, KernelVersion, rules_for
from harness.oracle import PmuModel, Prediction, predict
from harness.scenario.model import Action, FilterCall, InitStep, RunStep, Step, Workload

MAX = PmuModel(16, 0x20001, 0x10000018, frozenset({0x00, 0x11}))
MAX_ICOUNT = PmuModel(16, 0x20101, 0x10000018, frozenset({0x00, 0x08, 0x11}))
A57 = PmuModel(10, 0x20001, 0x0, frozenset({0x00, 0x11}))
K510, K61, K612, K615 = (rules_for(KernelVersion.parse(v))
                         for v in ("5.10.223", "6.1.158", "6.12.57", "6.15.0"))
ALL_KERNELS = (K510, K61, K612, K615)
WORK = Workload((CPU_CYCLES, SW_INCR), True, 1000)


def call(action: Action | int, base: int, n: int = 1, vcpu: int = 0) -> FilterCall:
    return FilterCall(base, n, int(action), vcpu, 0)


def allow(base: int, n: int = 1) -> FilterCall:
    return call(Action.ALLOW, base, n)


def deny(base: int, n: int = 1) -> FilterCall:
    return call(Action.DENY, base, n)


def run(steps: Sequence[Step], pmu: PmuModel = MAX, kernel: KernelRules = K61, vcpus: int = 1,
        no_pmu_vcpus: Sequence[int] = ()) -> Prediction:
    return predict(pmu=pmu, rules=kernel, steps=steps, workload=WORK, vcpus=vcpus,
                   no_pmu_vcpus=no_pmu_vcpus)


def counts(p: Prediction) -> dict[str, bool | None]:
    return {c.ref: c.counts for c in p.counters}


# -- values measured on this machine --------------------------------------------------


def test_measured_6_1_max() -> None:
    assert run([]).pmceid0 == 0x20001
    assert run([deny(CPU_CYCLES)]).pmceid0 == 0x1
    assert run([allow(0x08)]).pmceid0 == 0x0


def test_measured_6_1_max_icount() -> None:
    assert run([], MAX_ICOUNT).pmceid0 == 0x20101
    p = run([deny(CPU_CYCLES)], MAX_ICOUNT)
    assert p.pmceid0 == 0x101


def test_measured_6_12_chain_advertised() -> None:
    assert run([], kernel=K612).pmceid0 == 0x40020001
    assert run([deny(CPU_CYCLES)], kernel=K612).pmceid0 == 0x40000001


def test_deny_cycles_stops_counter_and_pmccntr() -> None:
    c = counts(run([deny(CPU_CYCLES)]))
    assert c == {"CPU_CYCLES": False, "SW_INCR": True, "cycle_counter": False}


def test_event_space_width() -> None:
    for bad in (deny(0x400), deny(0x3FF, 2)):
        assert run([bad], A57).filter_errnos == ("EINVAL",)
        assert run([bad], MAX).filter_errnos == ("OK",)
    assert run([deny(0xFFFF)], A57).filter_errnos == ("EINVAL",)
    assert run([deny(0x3FF)], A57).filter_errnos == ("OK",)


def test_filter_after_init_is_ebusy_and_not_applied() -> None:
    p = run([deny(CPU_CYCLES), InitStep(0, 0), allow(CPU_CYCLES)])
    assert p.filter_errnos == ("OK", "EBUSY")
    assert counts(p)["CPU_CYCLES"] is False


def test_filter_after_run_depends_on_kernel_generation() -> None:
    steps: list[Step] = [InitStep(0, 0), RunStep(0, 0), call(Action.DENY, CPU_CYCLES, vcpu=1)]
    old = run(steps, kernel=K510, vcpus=2)
    new = run(steps, kernel=K61, vcpus=2)
    assert old.filter_errnos == ("OK",) and counts(old)["CPU_CYCLES"] is False
    assert new.filter_errnos == ("EBUSY",) and counts(new)["CPU_CYCLES"] is True
    assert "ebusy-after-first-run" in new.steps[2].reason


def test_vcpu_without_pmu_is_enodev() -> None:
    p = run([call(Action.DENY, CPU_CYCLES, vcpu=1)], vcpus=2, no_pmu_vcpus=[1])
    assert p.filter_errnos == ("ENODEV",)
    assert counts(p)["CPU_CYCLES"] is True


def test_unknown_action_is_einval() -> None:
    assert run([call(7, CPU_CYCLES)]).filter_errnos == ("EINVAL",)


def test_nevents_zero_first_sets_default() -> None:
    p = run([allow(CPU_CYCLES, 0)])
    assert p.filter_errnos == ("OK",)
    assert counts(p)["CPU_CYCLES"] is False


def test_sw_incr_advertised_from_6_15_but_still_filtered() -> None:
    no_swinc_host = PmuModel(16, 0x20000, 0, frozenset({0x11}))
    assert run([], no_swinc_host, kernel=K615).pmceid0 & 1 == 1
    assert run([], no_swinc_host, kernel=K612).pmceid0 & 1 == 0
    assert run([allow(0x08)], kernel=K615).pmceid0 & 1 == 0  # measured on 7.3.4


def test_vcpu_features_are_vm_wide_from_6_7() -> None:
    steps: list[Step] = [call(Action.DENY, CPU_CYCLES, vcpu=1)]
    new = run(steps, kernel=K612, vcpus=2, no_pmu_vcpus=[1])
    assert new.filter_errnos == ("OK",) and counts(new)["CPU_CYCLES"] is False
    assert "vcpu-features-vm-wide" in new.steps[0].reason


def test_uncountable_event_is_unobservable() -> None:
    p = predict(pmu=MAX, rules=K61, steps=[deny(0x04)], workload=Workload((0x04,), False, 1))
    assert p.counters[0].counts is None


# -- laws of the documented semantics --------------------------------------------------

actions = st.sampled_from([Action.ALLOW, Action.DENY])
ranges = st.tuples(st.integers(0, 0x4F), st.integers(0, 0x20))
filters = st.lists(st.tuples(actions, ranges), min_size=1, max_size=6)
events = st.integers(0, 0x7F)
kernels = st.sampled_from(ALL_KERNELS)


def calls_of(spec: list[tuple[Action, tuple[int, int]]]) -> list[Step]:
    return [call(a, b, n) for a, (b, n) in spec]


@given(filters, events, kernels)
def test_first_action_sets_the_default(spec: list[tuple[Action, tuple[int, int]]], event: int,
                                       kernel: KernelRules) -> None:
    p = run(calls_of(spec), kernel=kernel)
    touched = any(b <= event < b + n for _, (b, n) in spec)
    if not touched:
        assert p.allowed(event) == (spec[0][0] == Action.DENY)


@given(actions, ranges, events)
def test_cancelling_does_not_restore_the_default(first: Action, rng: tuple[int, int],
                                                 event: int) -> None:
    other = Action.DENY if first == Action.ALLOW else Action.ALLOW
    p = run([call(first, *rng), call(other, *rng)])
    if rng[1] > 0:
        # Every event ends up with the opposite of the default the first call chose.
        assert p.allowed(event) == (first == Action.DENY) or rng[0] <= event < sum(rng)
        if rng[0] <= event < sum(rng):
            assert p.allowed(event) == (other == Action.ALLOW)


@given(filters, kernels)
def test_sw_incr_always_counts(spec: list[tuple[Action, tuple[int, int]]],
                               kernel: KernelRules) -> None:
    assert counts(run(calls_of(spec), kernel=kernel))["SW_INCR"] is True


@given(filters)
def test_cycle_counter_follows_cpu_cycles(spec: list[tuple[Action, tuple[int, int]]]) -> None:
    c = counts(run(calls_of(spec)))
    assert c["cycle_counter"] == c["CPU_CYCLES"]


@given(st.integers(0, 0xFFFF), st.integers(0, 0x400), actions)
def test_range_past_event_space_is_einval_on_v80_only(base: int, n: int, action: Action) -> None:
    if base + n > 0x10000:
        return
    step = [call(action, base, n)]
    assert run(step, A57).filter_errnos == ("EINVAL" if base + n > 0x400 else "OK",)
    assert run(step, MAX).filter_errnos == ("OK",)


@settings(max_examples=200)
@given(actions, st.integers(0, 0x60), st.lists(st.integers(1, 8), min_size=1, max_size=5),
       st.lists(st.tuples(actions, ranges), max_size=3), kernels)
def test_splitting_a_range_changes_nothing(action: Action, base: int, pieces: list[int],
                                           later: list[tuple[Action, tuple[int, int]]],
                                           kernel: KernelRules) -> None:
    whole: list[Step] = [call(action, base, sum(pieces))]
    split: list[Step] = []
    start = base
    for size in pieces:
        split.append(call(action, start, size))
        start += size
    tail = calls_of(later)
    a, b = run(whole + tail, kernel=kernel), run(split + tail, kernel=kernel)
    assert (a.filter_mask, a.pmceid0, a.pmceid1, counts(a)) == (
        b.filter_mask, b.pmceid0, b.pmceid1, counts(b))


@given(filters, kernels)
def test_guest_pmceid_never_shows_what_the_host_lacks(
        spec: list[tuple[Action, tuple[int, int]]], kernel: KernelRules) -> None:
    p = run(calls_of(spec), kernel=kernel)
    extra0 = p.pmceid0 & ~MAX.host_pmceid0
    # Only KVM's own addition may appear: CHAIN (6.2+); SW_INCR is in the host's anyway.
    assert extra0 & ~((1 << 0x1E) | 1) == 0
    assert p.pmceid1 & ~MAX.host_pmceid1 == 0


def test_kernel_version_parsing() -> None:
    assert KernelVersion.parse("6.1.158-1") == KernelVersion(6, 1, 158)
    assert KernelVersion.parse("6.12.57+deb13-arm64") == KernelVersion(6, 12, 57)
    assert KernelVersion.parse("5.10") < KernelVersion.parse("5.18")
    assert rules_for(KernelVersion.parse("5.10.223")).has("v81-events-hidden-on-v80")
    assert not rules_for(KernelVersion.parse("5.10.1")).has("v81-events-hidden-on-v80")
