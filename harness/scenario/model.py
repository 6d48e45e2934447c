"""What a scenario says, as frozen typed values. Parsing lives in ``parse.py``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class Action(IntEnum):
    """``struct kvm_pmu_event_filter.action`` values the kernel knows."""

    ALLOW = 0
    DENY = 1


def action_word(action: int) -> str:
    """``allow``/``deny``, or the raw number for an action the kernel does not know."""
    names: dict[int, str] = {Action.ALLOW: "allow", Action.DENY: "deny"}
    return names.get(action, str(action))


@dataclass(frozen=True)
class FilterCall:
    """One KVM_ARM_VCPU_PMU_V3_FILTER call: [base, base + nevents) with an action.

    ``action`` is an int, not an ``Action``, because scenarios may pass an unknown action on
    purpose to check for EINVAL.
    """

    base: int
    nevents: int
    action: int
    vcpu: int
    line: int

    @property
    def end(self) -> int:
        return self.base + self.nevents

    def describe(self) -> str:
        return f"{action_word(self.action)} [0x{self.base:x}, 0x{self.end:x}) via vCPU {self.vcpu}"


@dataclass(frozen=True)
class InitStep:
    """Ordering step: set the PMU IRQ, initialise the vGIC, then PMU INIT on ``vcpu``.

    ``irq=False`` leaves the IRQ out: what INIT itself answers on a vCPU without the PMU
    feature is otherwise hidden behind the IRQ's own ENODEV."""

    vcpu: int
    line: int
    irq: bool = True

    def describe(self) -> str:
        return f"PMU init of vCPU {self.vcpu}" + ("" if self.irq else " without its IRQ")


@dataclass(frozen=True)
class RunStep:
    """Ordering step: one KVM_RUN of a no-op payload on ``vcpu``."""

    vcpu: int
    line: int

    def describe(self) -> str:
        return f"first run of vCPU {self.vcpu}"


@dataclass(frozen=True)
class SetPmuStep:
    """Ordering step: KVM_ARM_VCPU_PMU_V3_SET_PMU on ``vcpu`` (5.18+), asking for L1's own
    Arm PMU (``host``) or for a perf PMU that is no Arm PMU (``other``)."""

    vcpu: int
    pmu: str
    line: int

    def describe(self) -> str:
        which = "the host's PMU" if self.pmu == PMU_HOST else "a non-Arm perf PMU"
        return f"SET_PMU to {which} via vCPU {self.vcpu}"


@dataclass(frozen=True)
class HasAttrStep:
    """Ordering step: KVM_HAS_DEVICE_ATTR of the FILTER attribute on ``vcpu``: 0 where the
    kernel has it and the vCPU has the PMU feature, ENXIO otherwise."""

    vcpu: int
    line: int

    def describe(self) -> str:
        return f"HAS_DEVICE_ATTR(FILTER) on vCPU {self.vcpu}"


@dataclass(frozen=True)
class PmuVerStep:
    """VM-setup step: the VMM writes ``version`` into ID_AA64DFR0_EL1.PMUVer (bits [11:8])
    of every vCPU (KVM_GET_ONE_REG, then KVM_SET_ONE_REG), before any PMU INIT or run."""

    version: int
    line: int
    vcpu: int = 0  # the first vCPU written; the step writes them all, in order

    def describe(self) -> str:
        return f"ID_AA64DFR0_EL1.PMUVer set to {self.version:#x} on every vCPU"


DEFAULT_MEASURE = (0,)  # without `measure:`, vCPU 0 runs the measurement
PMU_HOST = "host"
PMU_OTHER = "other"
PMU_CHOICES = (PMU_HOST, PMU_OTHER)

Step = FilterCall | InitStep | RunStep | SetPmuStep | HasAttrStep | PmuVerStep


@dataclass(frozen=True)
class Workload:
    """What the guest measures: event counters in order, plus optionally PMCCNTR."""

    events: tuple[int, ...]
    cycle_counter: bool
    loops: int
    # What the guest writes to PMCCFILTR_EL0 before counting: only its event field, bits
    # 0-15 (RES0 to the architecture; KVM 5.x keeps it, and series v1 filtered PMCCNTR by it).
    pmccfiltr: int = 0


PMCCFILTR_EVENT_FIELD = 0xFFFF
"""The bits of PMCCFILTR_EL0 a workload may set (``Workload.pmccfiltr``): its event field.
The other bits choose the exception levels PMCCNTR counts at, which would stop it whatever
the filter says."""


@dataclass(frozen=True)
class Expectations:
    """Each field is ``None`` when the scenario says ``derive`` (the oracle decides)."""

    errnos: tuple[str, ...] | None = None
    pmceid_present: tuple[int, ...] | None = None
    pmceid_absent: tuple[int, ...] | None = None
    counting: tuple[str, ...] | None = None
    not_counting: tuple[str, ...] | None = None
    # The guest's whole PMCEID0_EL0/PMCEID1_EL0, 64 bits each (the high words are events
    # 0x4000+), or `derive` for the oracle's. When the scenario says nothing of PMCEID at
    # all (these two and the present/absent lists), the oracle's whole words are checked.
    pmceid0: int | None = None
    pmceid1: int | None = None
    derive_words: frozenset[int] = frozenset()  # registers written as `pmceidN: derive`
    # The measured vCPUs the written expectations hold for (None: every one); the others
    # are judged by the oracle alone.
    vcpus: tuple[int, ...] | None = None

    @property
    def says_nothing_of_pmceid(self) -> bool:
        return not self.derive_words and all(
            v is None for v in (self.pmceid_present, self.pmceid_absent, self.pmceid0,
                                self.pmceid1))

    def holds_for(self, vcpu: int) -> bool:
        return self.vcpus is None or vcpu in self.vcpus


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    tags: tuple[str, ...]
    machines: tuple[str, ...] | None
    kernels: tuple[str, ...] | None
    modes: tuple[str, ...]
    vcpus: int
    no_pmu_vcpus: tuple[int, ...]
    control: bool
    steps: tuple[Step, ...]
    workload: Workload
    expect: Expectations
    path: Path
    id_line: int = 0  # where `id:` is in the file (0: not from a file)
    # The vCPUs the guest payload measures on, in order (the filter is per VM, the PMU per
    # vCPU: a scenario may look at the filter from a vCPU other than the one that set it).
    measure: tuple[int, ...] = DEFAULT_MEASURE

    @property
    def filter_calls(self) -> tuple[FilterCall, ...]:
        return tuple(s for s in self.steps if isinstance(s, FilterCall))

    def applies_to(self, machine: str, kernel: str) -> bool:
        machine_ok = self.machines is None or machine in self.machines
        return machine_ok and (self.kernels is None or kernel in self.kernels)


COUNTER_REF_CYCLES = "cycle_counter"
"""In ``counting``/``not_counting`` lists: PMCCNTR. Other entries are event names (hex
numbers for unnamed events), matched against the workload's event counters."""

ERRNO_NAMES = ("OK", "EINVAL", "EBUSY", "ENODEV", "ENXIO", "ENOMEM", "EFAULT", "ENOEXEC",
               "EPERM", "ENOENT")
MAX_VCPUS = 8
PMUVER_V80 = 0x1
"""ID_AA64DFR0_EL1.PMUVer of a PMUv3 for ARMv8.0: the one value a scenario may write (the
oracle knows what a kernel answers to it on every machine profile)."""
