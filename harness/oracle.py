"""What the documented semantics predict, as a pure function.

Input: the host PMU (event width, PMCEID, which events QEMU really counts), the kernel's
rules (``kernelrules``), and a scenario's vCPU layout, steps and workload. Output: each
call's errno, the guest's PMCEID0/1, and whether each programmed counter counts. Nothing
here touches a machine; the verdict compares this with what a real kernel did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.events import CHAIN, CPU_CYCLES, SW_INCR, default_event_table
from harness.kernelrules import KernelRules
from harness.pmceid import WORD, filter_word, words_for
from harness.scenario.model import (
    PMU_HOST,
    PMUVER_V80,
    Action,
    FilterCall,
    HasAttrStep,
    InitStep,
    PmuVerStep,
    SetPmuStep,
    Step,
    Workload,
)

FULL_EVENT_SPACE = 1 << 16
STALL_SLOT_EVENTS = (0x3D, 0x3E, 0x3F)  # STALL_SLOT_BACKEND, _FRONTEND, STALL_SLOT
V80_EVENT_BITS = 10  # the event width of a PMUv3 for ARMv8.0 (PMUVer 0x1)


@dataclass(frozen=True)
class PmuModel:
    """What L1's PMU offers KVM. PMCEIDs are the full 64-bit registers."""

    event_bits: int
    host_pmceid0: int
    host_pmceid1: int
    counting_events: frozenset[int]

    @property
    def nr_events(self) -> int:
        return 1 << self.event_bits


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    errno: str
    reason: str
    implicit: bool = False


@dataclass(frozen=True)
class CounterPrediction:
    """``counts`` is None when nothing could show it here (QEMU never counts that event)."""

    ref: str
    event: int | None
    counts: bool | None
    reason: str
    # A counter predicted not to count because the machine has no such event (and no
    # narrower width folds it onto one it has): its 0 is the point, not something the
    # filter did, so no counting control is needed to believe it.
    zero_without_control: bool = False


@dataclass(frozen=True)
class Prediction:
    steps: tuple[StepOutcome, ...]
    filter_mask: int | None
    nr_events: int
    pmceid0: int
    pmceid1: int
    counters: tuple[CounterPrediction, ...]
    rules: KernelRules
    initialised: frozenset[int]  # vCPUs whose PMU init succeeds
    # KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0 once the vCPUs exist (what the probe reports).
    has_filter_attr: bool = False
    # The event width the kernel gives the guest's event numbers: the PMU's, or the
    # guest's own after a VMM lowered its PMUVer where the kernel follows it.
    guest_event_bits: int = 16
    # The PMUVer the guest reads after an accepted PMUVer write (None: none was written).
    guest_pmuver: int | None = None

    def measured_on(self, vcpu: int) -> bool:
        """Whether ``vcpu`` can run the measurement: its PMU was initialised."""
        return vcpu in self.initialised

    @property
    def measured(self) -> bool:
        """Whether vCPU 0, the one a scenario measures by default, can."""
        return self.measured_on(0)

    def allowed(self, event: int) -> bool:
        return _allowed(self.filter_mask, self.nr_events, event)

    @property
    def filter_errnos(self) -> tuple[str, ...]:
        return tuple(o.errno for o in self.steps if isinstance(o.step, FilterCall))


def _allowed(mask: int | None, nr_events: int, event: int) -> bool:
    if mask is None:
        return True
    # KVM looks the event up after masking it to the PMU's event width.
    return bool((mask >> (event & (nr_events - 1))) & 1)


def _unknown_attribute(attribute: str) -> tuple[str, str]:
    return "ENXIO", f"this kernel has no {attribute} attribute (an unknown PMU attribute)"


@dataclass
class _VmState:
    """The slice of KVM's per-VM and per-vCPU state the filter semantics depend on."""

    nr_events: int
    no_pmu: frozenset[int]
    rules: KernelRules
    mask: int | None = None
    created: set[int] = field(default_factory=set)
    ran: bool = False
    issued: set[int] = field(default_factory=set)  # vCPUs a PMU init step was issued on
    pmu_event_bits: int = 16  # the hardware PMU's event width
    guest_event_bits: int = 16
    guest_pmuver: int | None = None

    def lacks_pmu(self, vcpu: int) -> bool:
        # With VM-wide features the odd vCPU fails KVM_ARM_VCPU_INIT, and its PMU
        # attributes then follow the VM's features (those of vCPU 0, initialised first).
        if self.rules.has("vcpu-features-vm-wide"):
            return 0 in self.no_pmu
        return vcpu in self.no_pmu

    def refused(self, attribute: str, vcpu: int) -> tuple[str, str] | None:
        """What every PMU attribute the series added answers before its own checks. Before
        the series each attribute made its own checks and an unknown one is ENXIO at once;
        the series moved ENODEV and EBUSY in front of every attribute."""
        if not self.rules.has("filter-api"):
            return _unknown_attribute(attribute)
        if self.lacks_pmu(vcpu):
            return "ENODEV", f"vCPU {vcpu} has no PMUv3 feature"
        if vcpu in self.created:
            return "EBUSY", f"PMU of vCPU {vcpu} already initialised"
        return None

    def filter(self, call: FilterCall) -> tuple[str, str]:
        refused = self.refused("FILTER", call.vcpu)
        if refused:
            return refused
        if call.end > self.nr_events:
            return "EINVAL", f"range ends past the {self.nr_events:#x}-event space"
        if call.action not in (Action.ALLOW, Action.DENY):
            return "EINVAL", f"unknown action {call.action}"
        if self.ran and self.rules.has("ebusy-after-first-run"):
            return "EBUSY", "a vCPU has run: " + self.rules.get("ebusy-after-first-run").cite()
        self._apply(call)
        if call.vcpu in self.no_pmu:
            return "OK", "applied: " + self.rules.get("vcpu-features-vm-wide").cite()
        return "OK", "applied"

    def _apply(self, call: FilterCall) -> None:
        full = (1 << self.nr_events) - 1
        if self.mask is None:
            # The first filter sets the default: allow-first denies the rest, and vice versa.
            self.mask = 0 if call.action == Action.ALLOW else full
        bits = ((1 << call.nevents) - 1) << call.base
        self.mask = self.mask | bits if call.action == Action.ALLOW else self.mask & ~bits

    def init(self, vcpu: int, irq: bool = True) -> tuple[str, str]:
        self.issued.add(vcpu)
        if self.lacks_pmu(vcpu):
            return self._init_without_pmu(vcpu, irq)
        if vcpu in self.created:
            return "EBUSY", f"PMU of vCPU {vcpu} already initialised"
        if not irq:
            # Documented: with an in-kernel vGIC, INIT needs the PMU's IRQ set first.
            return "ENXIO", f"no PMU IRQ was set on vCPU {vcpu} (INIT needs one with a vGIC)"
        self.created.add(vcpu)
        return "OK", "initialised"

    def _init_without_pmu(self, vcpu: int, irq: bool) -> tuple[str, str]:
        if irq:
            # A VMM sets the PMU's IRQ first, and that answers ENODEV on every kernel.
            return "ENODEV", f"vCPU {vcpu} has no PMUv3 feature (its IRQ is refused)"
        if self.rules.has("nodev-without-pmu-feature"):
            return "ENODEV", (f"vCPU {vcpu} has no PMUv3 feature: "
                              + self.rules.get("nodev-without-pmu-feature").cite())
        return "ENXIO", f"vCPU {vcpu} has no PMUv3 feature: INIT's own check, before the series"

    def has_attr(self, vcpu: int) -> tuple[str, str]:
        """KVM_HAS_DEVICE_ATTR of FILTER: neither EBUSY nor ENODEV, only 0 or ENXIO."""
        if not self.rules.has("filter-api"):
            return _unknown_attribute("FILTER")
        if self.lacks_pmu(vcpu):
            return "ENXIO", f"vCPU {vcpu} has no PMUv3 feature"
        return "OK", "the FILTER attribute: " + self.rules.get("filter-api").cite()

    def pmuver(self, step: PmuVerStep) -> tuple[str, str]:
        """The VMM's PMUVer write, before any INIT or run (the scenario parser sees to it).
        Only PMUv3 for ARMv8.0 is written: what every kernel answers to it is known."""
        same = step.version == PMUVER_V80 and self.pmu_event_bits == V80_EVENT_BITS
        if not (same or self.rules.has("guest-pmuver-writable")):
            return "EINVAL", ("ID registers are invariant on this kernel: a PMUVer other than "
                              "KVM's own is refused")
        self.guest_pmuver = step.version
        why = ("the PMU already is PMUv3 for ARMv8.0: the same value" if same
               else "lowered: " + self.rules.get("guest-pmuver-writable").cite())
        if not same and self.rules.has("guest-event-mask-by-guest-pmuver"):
            self.guest_event_bits = V80_EVENT_BITS
            why += "; " + self.rules.get("guest-event-mask-by-guest-pmuver").cite()
        return "OK", why

    def set_pmu(self, step: SetPmuStep) -> tuple[str, str]:
        refused = self.refused("SET_PMU", step.vcpu)
        if refused:
            return refused
        if not self.rules.has("set-pmu"):
            return _unknown_attribute("SET_PMU")
        if step.pmu != PMU_HOST:
            return "ENXIO", "no Arm PMU has that perf type"
        if self.ran:
            return "EBUSY", "a vCPU has run: " + self.rules.get("set-pmu").cite()
        # The one PMU L1 has is the VM's already, so an existing filter does not matter.
        return "OK", "the host's PMU: " + self.rules.get("set-pmu").cite()

    def run(self, vcpu: int) -> tuple[str, str]:
        self.ran = True
        return "OK", f"vCPU {vcpu} ran"


def _play(steps: Iterable[Step], vcpus: int, state: _VmState) -> list[StepOutcome]:
    outcomes = []
    for step in steps:
        if isinstance(step, FilterCall):
            errno, reason = state.filter(step)
        elif isinstance(step, InitStep):
            errno, reason = state.init(step.vcpu, step.irq)
        elif isinstance(step, SetPmuStep):
            errno, reason = state.set_pmu(step)
        else:
            errno, reason = _play_setup(step, state)
        outcomes.append(StepOutcome(step, errno, reason))
    for vcpu in range(vcpus):
        # The VMM initialises what no step tried to (a refused init step stays refused).
        if vcpu not in state.issued and vcpu not in state.no_pmu:
            errno, reason = state.init(vcpu)
            outcomes.append(StepOutcome(InitStep(vcpu, 0), errno, reason, implicit=True))
    return outcomes


def _play_setup(step: Step, state: _VmState) -> tuple[str, str]:
    """The steps that only ask or set up: HAS_DEVICE_ATTR, the PMUVer write, a run."""
    if isinstance(step, HasAttrStep):
        return state.has_attr(step.vcpu)
    if isinstance(step, PmuVerStep):
        return state.pmuver(step)
    return state.run(step.vcpu)


def _guest_pmceid(pmu: PmuModel, mask: int | None, rules: KernelRules,
                  guest_nr_events: int) -> tuple[int, int]:
    word0, word1 = pmu.host_pmceid0, pmu.host_pmceid1
    if pmu.event_bits < 16 and rules.has("v81-events-hidden-on-v80"):
        word0, word1 = word0 & WORD, word1 & WORD
    added = [event for event, rule in ((CHAIN, "chain-advertised"),
                                       (SW_INCR, "sw-incr-always-advertised"))
             if rules.has(rule)]
    word0 |= words_for(added)[0]
    if rules.has("stall-slot-hidden"):
        word1 &= ~words_for(STALL_SLOT_EVENTS)[1]
    if rules.has("pmceid-masked-by-filter"):
        # The high words are read only where the guest's event space reaches them.
        word0 &= filter_word(mask, guest_nr_events, 0)
        word1 &= filter_word(mask, guest_nr_events, 1)
    return word0, word1


EVTYPE_EVENT = 0xFFFF
"""The event field of PMEVTYPER/PMCCFILTR, as a kernel that ignores the PMU's width takes it."""
PMCCFILTR_KEPT = 0xC800FFFF
"""What a 5.x KVM stores of the guest's PMCCFILTR write (ARMV8_PMU_EVTYPE_MASK): P, U, NSH
and the event field, which the architecture makes RES0 but KVM keeps."""
V80_EVENT_FIELD = (1 << V80_EVENT_BITS) - 1
"""The event field of a PMUv3 for ARMv8.0: the narrowest width any PMU here has."""
EVENTS_MASKED_RULE = "guest-events-masked-to-pmu-width"
PMCCFILTR_RULE = "cycle-counter-follows-pmccfiltr-event"


def _programmed_event(event: int, pmu: PmuModel, rules: KernelRules,
                      guest_event_bits: int) -> int:
    """The event number KVM really programs for what the guest wrote to PMEVTYPER: masked to
    the PMU's width, or to the guest's where a VMM lowered the guest's PMUVer and the kernel
    follows it (``guest_event_bits`` is then the narrower one)."""
    if rules.has(EVENTS_MASKED_RULE):
        return event & ((1 << min(pmu.event_bits, guest_event_bits)) - 1)
    return event & EVTYPE_EVENT


def _counter(ref: str, event: int, pmu: PmuModel, mask: int | None, nr_events: int,
             rules: KernelRules, guest_event_bits: int) -> CounterPrediction:
    programmed = _programmed_event(event, pmu, rules, guest_event_bits)
    if programmed != event:
        name = default_event_table().name_of(programmed)
        seen = _event_counter(ref, programmed, pmu, mask, nr_events)
        return CounterPrediction(ref, event, seen.counts,
                                 f"{event:#x} is programmed as {name} "
                                 f"({rules.get(EVENTS_MASKED_RULE).cite()}): {seen.reason}")
    if _folds_onto_a_counted_event(event, pmu):
        # Kept whole, e.g. 0x411 on a 16-bit PMU or on a kernel that does not mask: an
        # event of its own, which QEMU never counts, unlike its 10-bit alias.
        return CounterPrediction(ref, event, False,
                                 f"{event:#x} stays its own event, which this machine never "
                                 f"counts (not its 10-bit alias {event & V80_EVENT_FIELD:#x})",
                                 zero_without_control=True)
    return _event_counter(ref, event, pmu, mask, nr_events)


def _folds_onto_a_counted_event(event: int, pmu: PmuModel) -> bool:
    alias = event & V80_EVENT_FIELD
    return alias != event and (alias == SW_INCR or alias in pmu.counting_events)


def _event_counter(ref: str, event: int, pmu: PmuModel, mask: int | None,
                   nr_events: int) -> CounterPrediction:
    if event == SW_INCR:
        return CounterPrediction(ref, event, True, "SW_INCR is never filtered")
    if event == CHAIN:
        return CounterPrediction(ref, event, None, "CHAIN only counts overflows of a pair")
    if event not in pmu.counting_events:
        return CounterPrediction(ref, event, None, "this machine's PMU never counts it")
    if _allowed(mask, nr_events, event):
        return CounterPrediction(ref, event, True, "allowed by the filter")
    return CounterPrediction(ref, event, False, "denied by the filter")


def _cycle_counter(pmu: PmuModel, mask: int | None, rules: KernelRules, nr_events: int,
                   pmccfiltr: int) -> CounterPrediction:
    if rules.has(PMCCFILTR_RULE):
        # Looked up with the event field of PMCCFILTR as KVM stored the guest's write.
        event = pmccfiltr & PMCCFILTR_KEPT & EVTYPE_EVENT
        allowed = _allowed(mask, nr_events, event)
        why = "allowed" if allowed else "denied"
        name = default_event_table().name_of(event)
        return CounterPrediction("cycle_counter", None, allowed,
                                 f"PMCCNTR follows the bit of PMCCFILTR's event field, "
                                 f"{event:#x} ({name}), {why} by the filter: "
                                 + rules.get(PMCCFILTR_RULE).cite())
    cycles = _event_counter("cycle_counter", CPU_CYCLES, pmu, mask, nr_events)
    return CounterPrediction("cycle_counter", None, cycles.counts,
                             "PMCCNTR follows CPU_CYCLES: " + cycles.reason)


def _counters(workload: Workload, pmu: PmuModel, mask: int | None, rules: KernelRules,
              nr_events: int, guest_event_bits: int) -> tuple[CounterPrediction, ...]:
    name_of = default_event_table().name_of
    predictions = [_counter(name_of(e), e, pmu, mask, nr_events, rules, guest_event_bits)
                   for e in workload.events]
    if workload.cycle_counter:
        predictions.append(_cycle_counter(pmu, mask, rules, nr_events, workload.pmccfiltr))
    return tuple(predictions)


def predict(
    *,
    pmu: PmuModel,
    rules: KernelRules,
    steps: Iterable[Step],
    workload: Workload,
    vcpus: int = 1,
    no_pmu_vcpus: Iterable[int] = (),
) -> Prediction:
    """Everything the documented semantics say about one run of one scenario."""
    state = _VmState(filter_space(pmu, rules), frozenset(no_pmu_vcpus), rules,
                     pmu_event_bits=pmu.event_bits, guest_event_bits=pmu.event_bits)
    has_filter_attr = state.has_attr(0)[0] == "OK"
    outcomes = _play(steps, vcpus, state)
    pmceid0, pmceid1 = _guest_pmceid(pmu, state.mask, rules, 1 << state.guest_event_bits)
    counters = (_counters(workload, pmu, state.mask, rules, state.nr_events,
                          state.guest_event_bits) if state.created else ())
    return Prediction(tuple(outcomes), state.mask, state.nr_events, pmceid0, pmceid1, counters,
                      rules, frozenset(state.created), has_filter_attr,
                      state.guest_event_bits, state.guest_pmuver)


def filter_space(pmu: PmuModel, rules: KernelRules) -> int:
    """How many events the filter covers: the PMU's event space, or (v1, v2) always 2^16."""
    if rules.has("filter-api") and not rules.has("event-space-by-pmu-version"):
        return FULL_EVENT_SPACE
    return pmu.nr_events

