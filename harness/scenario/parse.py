"""Turn a scenario file into a ``Scenario``, or into every located problem it has."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import modes
from harness.catalog import KINDS, unknown_name
from harness.errors import Located, UsageError
from harness.events import EVENT_SPACE, EventTable, default_event_table
from harness.located import BAD, LEADING_ZERO, NUMBER_TEXT, Invalid, LocatedReader
from harness.modes import DEFAULT_MODES, Mode
from harness.scenario.model import (
    COUNTER_REF_CYCLES,
    DEFAULT_MEASURE,
    ERRNO_NAMES,
    MAX_VCPUS,
    PMCCFILTR_EVENT_FIELD,
    PMU_CHOICES,
    PMU_HOST,
    PMUVER_V80,
    Action,
    Expectations,
    FilterCall,
    HasAttrStep,
    InitStep,
    PmuVerStep,
    RunStep,
    Scenario,
    SetPmuStep,
    Step,
    Workload,
)
from harness.yamlsource import MAX_NUMBER_CHARS, LocatedDict, LocatedList, load_located, shown

TOP_KEYS = {
    "id": "a short name: lowercase letters, digits and dashes",
    "description": "one or two sentences",
    "tags": "a list of words",
    "machines": "a list of machine profile names (default: all)",
    "kernels": "a list of kernel profile names (default: all)",
    "modes": "a list of L2 modes: probe, linux (default: [probe])",
    "vcpus": f"the number of vCPUs, 1 to {MAX_VCPUS} (default 1)",
    "no_pmu_vcpus": "vCPU indices created without the PMUv3 feature",
    "measure": "the vCPUs to measure on: a list of indices or `all` (default [0])",
    "control": "true (default) to run an unfiltered control first",
    "filters": "the ordered list of filter calls and ordering steps, or `none`",
    "workload": "events, cycle_counter, loops, pmccfiltr",
    "expect": "errnos, pmceid_present, pmceid_absent, pmceid0, pmceid1, counting, "
              "not_counting, vcpus",
}
REQUIRED_KEYS = ("id", "description", "filters", "workload")
WORKLOAD_KEYS = ("events", "cycle_counter", "loops", "pmccfiltr")
EXPECT_KEYS = ("errnos", "pmceid_present", "pmceid_absent", "pmceid0", "pmceid1", "counting",
               "not_counting", "vcpus")
PMCEID_MAX = (1 << 64) - 1  # a whole 64-bit PMCEIDn_EL0, high word included
MEASURE_ALL = "all"
STEP_KEYS = ("allow", "deny", "raw", "init", "run", "set_pmu", "has_attr", "pmuver")
ORDERING_KEYS = ("init", "run", "set_pmu", "has_attr")
INIT_KEYS = ("vcpu", "irq")
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
# An id names directories and files of every run (`<id>-<mode>/`, bundles): 64 characters
# keep those well inside the 255 bytes a file name may have. The longest shipped id has 26.
MAX_ID_CHARS = 64
RANGE_PATTERN = re.compile(r"^\s*([^\s-]+)\s*-\s*([^\s-]+)\s*$")
# Each SW_INCR iteration writes PMSWINC_EL0, which traps to L1 KVM; under TCG 20k loops took
# 0.8 s (max) to 5 s (cortex-a57, 11 s on a KASAN kernel) per probe run. A check only asks
# whether a counter moved (and a "not counting" one only counts when the control's did), so
# 2,000 iterations are plenty: SW_INCR counts 2,000, CPU_CYCLES tens of thousands at least.
DEFAULT_LOOPS = 2_000
DERIVE = "derive"


@dataclass
class _Reader(LocatedReader):
    """The located reader plus what a scenario names: events and profiles."""

    events: EventTable = field(default_factory=default_event_table)
    known_machines: frozenset[str] = frozenset()
    known_kernels: frozenset[str] = frozenset()

    def event(self, value: Any, line: int, what: str) -> int:
        """An event given by name or number."""
        if isinstance(value, str) and not (NUMBER_TEXT.fullmatch(value)
                                           or LEADING_ZERO.fullmatch(value)):
            found = self.events.by_name(value.strip())
            if found is not None:
                return found.number
            close = self.events.suggest(value.strip()[:MAX_NUMBER_CHARS])
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise self.fail(line, f"{what}: unknown event name {shown(value)}{hint}")
        return self.integer(value, line, f"{what}: event number", 0, EVENT_SPACE - 1)


def _line_of(doc: LocatedDict, key: str) -> int:
    return doc.key_lines.get(key, doc.line)


# -- filter entries ---------------------------------------------------------------------


def _fields(r: _Reader, spec: LocatedDict, line: int, what: str,
            readers: dict[str, Callable[[Any, int], int]]) -> list[int]:
    """Every field of a ``{key: value}`` form, each read on its own so that a missing key
    and a bad value elsewhere are both reported."""
    missing = [key for key in readers if key not in spec]
    if missing:
        r.fail(line, f"{what}: missing {', '.join(missing)}")
    values = [r.guarded(BAD, read, spec[key], spec.key_lines[key])
              for key, read in readers.items() if key in spec]
    if missing or any(v is BAD for v in values):
        raise Invalid()
    return values


def _event_range(r: _Reader, spec: Any, line: int, what: str) -> tuple[int, int]:
    """(base, nevents) from a number, a name, ``A-B`` (inclusive) or {base, nevents}."""
    if isinstance(spec, LocatedDict):
        r.mapping(spec, line, what, ("base", "nevents"))
        base, count = _fields(r, spec, line, f"{what} (base + count form)", {
            "base": lambda v, ln: r.event(v, ln, f"{what} base"),
            "nevents": lambda v, ln: r.integer(v, ln, f"{what} nevents", 0, 0xFFFF)})
        return base, count
    match = RANGE_PATTERN.match(spec) if isinstance(spec, str) else None
    if match:
        first = r.guarded(None, r.event, match.group(1), line, f"{what} range start")
        last = r.guarded(None, r.event, match.group(2), line, f"{what} range end")
        if first is None or last is None:
            raise Invalid()
        if last < first:
            raise r.fail(line, f"{what}: range {shown(spec)} ends before it starts")
        return first, last - first + 1
    return r.event(spec, line, what), 1


def _check_space(r: _Reader, base: int, count: int, line: int, what: str) -> None:
    if base + count > EVENT_SPACE:
        raise r.fail(line, f"{what}: range [{base:#x}, {base + count:#x}) runs past 0xffff, "
                     "the end of the 16-bit event space")


def _raw_call(r: _Reader, spec: Any, line: int, vcpu: int | None) -> FilterCall:
    raw = r.mapping(spec, line, "raw filter", ("base", "nevents", "action"))
    base, count, action = _fields(r, raw, line, "raw filter", {
        "base": lambda v, ln: r.integer(v, ln, "raw filter base", 0, 0xFFFF),
        "nevents": lambda v, ln: r.integer(v, ln, "raw filter nevents", 0, 0xFFFF),
        "action": lambda v, ln: r.integer(v, ln, "raw filter action", 0, 0xFF)})
    # No range check: a raw call carries whatever the struct can hold (the sum of two u16
    # may pass 0x10000) so that the kernel's own checks are what the scenario tests.
    if vcpu is None:
        raise Invalid()
    return FilterCall(base, count, action, vcpu, line)


def _ordering_step(r: _Reader, entry: LocatedDict, kind: str, line: int, vcpus: int) -> Step:
    if "vcpu" in entry:
        raise r.fail(line, f"{kind}: give the vCPU as the value (`{kind}: 1`), not `vcpu:`")
    if "pmu" in entry and kind != "set_pmu":
        raise r.fail(_line_of(entry, "pmu"), f"{kind}: `pmu:` belongs to a set_pmu step")
    if kind == "init" and isinstance(entry[kind], LocatedDict):
        return _init_step(r, entry[kind], line, vcpus)
    value = 0 if entry[kind] is None else entry[kind]
    vcpu = r.integer(value, line, f"{kind} vCPU", 0, vcpus - 1)
    if kind == "set_pmu":
        return SetPmuStep(vcpu, _pmu_choice(r, entry), line)
    if kind == "has_attr":
        return HasAttrStep(vcpu, line)
    return InitStep(vcpu, line) if kind == "init" else RunStep(vcpu, line)


def _init_step(r: _Reader, spec: LocatedDict, line: int, vcpus: int) -> InitStep:
    """``init: {vcpu: 1, irq: false}``: PMU INIT without setting the PMU's IRQ first."""
    r.mapping(spec, line, "init", INIT_KEYS)
    vcpu = r.guarded(None, r.integer, spec.get("vcpu", 0), _line_of(spec, "vcpu"),
                     "init vCPU", 0, vcpus - 1)
    irq = r.guarded(None, r.boolean, spec.get("irq", True), _line_of(spec, "irq"), "init irq")
    if vcpu is None or irq is None:
        raise Invalid()
    return InitStep(vcpu, line, irq)


def _pmuver_step(r: _Reader, value: Any, line: int) -> PmuVerStep:
    version = r.integer(value, line, "pmuver", 0, 0xF)
    if version != PMUVER_V80:
        raise r.fail(line, f"pmuver: only {PMUVER_V80:#x} (PMUv3 for ARMv8.0) can be "
                     f"written, got {version:#x}: what a kernel answers to another version "
                     "depends on the machine's own, which the oracle does not model")
    return PmuVerStep(version, line)


def _pmu_choice(r: _Reader, entry: LocatedDict) -> str:
    choice = entry.get("pmu", PMU_HOST)
    if choice not in PMU_CHOICES:
        raise r.fail(_line_of(entry, "pmu"), f"set_pmu pmu: expected one of "
                     f"{', '.join(PMU_CHOICES)}, got {shown(choice)}")
    return str(choice)


def _step(r: _Reader, entry: Any, line: int, vcpus: int) -> Step:
    if not isinstance(entry, LocatedDict):
        raise r.fail(line, f"filters: expected an entry such as `- deny: CPU_CYCLES`, got "
                     f"{shown(entry)}")
    r.unknown_keys(entry, "filter entry", (*STEP_KEYS, "vcpu", "pmu"))
    kinds = [k for k in STEP_KEYS if k in entry]
    if len(kinds) != 1:
        raise r.fail(line, f"filter entry: expected exactly one of {', '.join(STEP_KEYS)}, "
                     f"got {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    if kind in ORDERING_KEYS:
        return _ordering_step(r, entry, kind, line, vcpus)
    if kind == "pmuver":
        for key in ("vcpu", "pmu"):
            if key in entry:
                raise r.fail(_line_of(entry, key), f"pmuver: `{key}:` does not belong to it "
                             "(the VMM writes PMUVer on every vCPU)")
        return _pmuver_step(r, entry[kind], line)
    if "pmu" in entry:
        raise r.fail(_line_of(entry, "pmu"), f"{kind}: `pmu:` belongs to a set_pmu step")
    # The vCPU and the range are independent: a bad one must not hide the other.
    vcpu = r.guarded(None, r.integer, entry.get("vcpu", 0), _line_of(entry, "vcpu"),
                     "filter vCPU", 0, vcpus - 1)
    if kind == "raw":
        return _raw_call(r, entry[kind], line, vcpu)
    base, count = _event_range(r, entry[kind], line, kind)
    _check_space(r, base, count, line, kind)
    if vcpu is None:
        raise Invalid()
    action = Action.ALLOW if kind == "allow" else Action.DENY
    return FilterCall(base, count, int(action), vcpu, line)


def _steps(r: _Reader, doc: LocatedDict, vcpus: int) -> tuple[Step, ...]:
    value, line = doc.get("filters"), _line_of(doc, "filters")
    if value == "none":
        return ()
    if isinstance(value, LocatedList) and not value:
        raise r.fail(line, "filters: an empty list is not allowed; write `filters: none` for "
                     "a scenario without any filter")
    items = r.sequence(value, line, "filters")
    steps = [r.guarded(None, _step, r, e, ln, vcpus) for e, ln in items]
    return tuple(s for s in steps if s is not None)


# -- workload and expectations ----------------------------------------------------------


def _workload(r: _Reader, doc: LocatedDict) -> Workload:
    spec = r.mapping(doc.get("workload"), _line_of(doc, "workload"), "workload", WORKLOAD_KEYS)
    events = r.guarded(None, r.each, spec.get("events", LocatedList()), _line_of(spec, "events"),
                       "workload events", lambda v, ln: r.event(v, ln, "workload events"))
    cycles = r.guarded(False, lambda: r.boolean(spec.get("cycle_counter", False),
                                                _line_of(spec, "cycle_counter"),
                                                "workload cycle_counter"))
    loops = r.guarded(DEFAULT_LOOPS, lambda: r.integer(spec.get("loops", DEFAULT_LOOPS),
                                                       _line_of(spec, "loops"),
                                                       "workload loops", 1, 1 << 30,
                                                       hexadecimal=False))
    if events == [] and not cycles:  # None: the list was wrong, and that is reported
        r.fail(spec.line, "workload: program at least one event or the cycle counter")
    pmccfiltr = r.guarded(0, _pmccfiltr, r, spec) if "pmccfiltr" in spec else 0
    return Workload(tuple(events or ()), cycles, loops, pmccfiltr)


def _pmccfiltr(r: _Reader, spec: LocatedDict) -> int:
    """The value the guest writes to PMCCFILTR_EL0: its event field only."""
    line = _line_of(spec, "pmccfiltr")
    value = r.integer(spec["pmccfiltr"], line, "workload pmccfiltr", 0, 0xFFFFFFFF)
    if value & ~PMCCFILTR_EVENT_FIELD:
        raise r.fail(line, f"workload pmccfiltr: {value:#x} sets bits "
                     f"{value & ~PMCCFILTR_EVENT_FIELD:#x}; only the event field, bits 0-15 "
                     f"(at most {PMCCFILTR_EVENT_FIELD:#x}), may be set: the bits above choose "
                     "the exception levels PMCCNTR counts at and would stop it whatever the "
                     "filter says")
    if spec.get("cycle_counter") is not True:
        raise r.fail(line, "workload pmccfiltr: PMCCFILTR only matters to the cycle counter; "
                     "set `cycle_counter: true`")
    return value


def _errno_name(r: _Reader, item: Any, line: int) -> str:
    name = "OK" if item == 0 and not isinstance(item, bool) else str(item).upper()
    if isinstance(item, bool) or name not in ERRNO_NAMES:
        raise r.fail(line, f"expect errnos: unknown errno {shown(item)}; expected one of "
                     f"{', '.join(ERRNO_NAMES)}")
    return name


def _errno_list(r: _Reader, value: Any, line: int) -> tuple[str, ...]:
    return tuple(r.each(value, line, "expect errnos", lambda v, ln: _errno_name(r, v, ln)))


def _counter_ref(r: _Reader, item: Any, line: int, what: str) -> str:
    if item == COUNTER_REF_CYCLES:
        return COUNTER_REF_CYCLES
    return r.events.name_of(r.event(item, line, what))


def _counter_refs(r: _Reader, value: Any, line: int, what: str) -> tuple[str, ...]:
    return tuple(r.each(value, line, what, lambda v, ln: _counter_ref(r, v, ln, what)))


def _event_list(r: _Reader, value: Any, line: int, what: str) -> tuple[int, ...]:
    return tuple(r.each(value, line, what, lambda v, ln: r.event(v, ln, what)))


def _vcpu_list(r: _Reader, value: Any, line: int, what: str, count: int) -> tuple[int, ...]:
    indices = r.each(value, line, what, lambda v, ln: r.integer(v, ln, what, 0, count - 1,
                                                                 hexadecimal=False))
    if not indices:
        raise r.fail(line, f"{what}: expected at least one vCPU index")
    if len(set(indices)) != len(indices):
        raise r.fail(line, f"{what}: a vCPU is listed twice in {shown(value)}")
    return tuple(indices)


def _measure(r: _Reader, doc: LocatedDict, vcpus: int, indices: int) -> tuple[int, ...]:
    value, line = doc.get("measure"), _line_of(doc, "measure")
    if value is None:
        return DEFAULT_MEASURE
    if value == MEASURE_ALL:
        return tuple(range(vcpus))
    return _vcpu_list(r, value, line, "measure", indices)


def _expectations(r: _Reader, doc: LocatedDict) -> Expectations:
    if "expect" not in doc:
        return Expectations()
    spec = r.mapping(doc["expect"], _line_of(doc, "expect"), "expect", EXPECT_KEYS)
    readers: dict[str, Callable[[Any, int, str], Any]] = {
        "errnos": lambda v, ln, _w: _errno_list(r, v, ln),
        "pmceid_present": lambda v, ln, w: _event_list(r, v, ln, w),
        "pmceid_absent": lambda v, ln, w: _event_list(r, v, ln, w),
        "counting": lambda v, ln, w: _counter_refs(r, v, ln, w),
        "not_counting": lambda v, ln, w: _counter_refs(r, v, ln, w),
        "pmceid0": lambda v, ln, w: r.integer(v, ln, w, 0, PMCEID_MAX),
        "pmceid1": lambda v, ln, w: r.integer(v, ln, w, 0, PMCEID_MAX),
        "vcpus": lambda v, ln, w: _vcpu_list(r, v, ln, w, MAX_VCPUS),
    }
    values: dict[str, Any] = {}
    for key, read in readers.items():
        value = spec.get(key, DERIVE)
        if value != DERIVE:
            line = _line_of(spec, key)
            values[key] = r.guarded(None, read, value, line, f"expect {key}")
    # Omitted or `derive` are the same for every other key; a word written `derive` is asked
    # for: the oracle's whole word is checked beside the scenario's present/absent lists.
    derived = frozenset(n for n, key in enumerate(("pmceid0", "pmceid1"))
                        if spec.get(key) == DERIVE)
    return Expectations(**values, derive_words=derived)


# -- top level --------------------------------------------------------------------------


def _names(r: _Reader, doc: LocatedDict, key: str, known: frozenset[str]) -> tuple[str, ...] | None:
    if key not in doc:
        return None
    line = _line_of(doc, key)
    names = r.string_list(doc[key], line, key)
    for name in names:
        if known and name not in known:
            kind = KINDS[key].kind
            r.fail(line, f"{key}: {unknown_name(kind, name, known)}")
    return names


def _identity(r: _Reader, doc: LocatedDict) -> tuple[str, str, tuple[str, ...]]:
    ident = r.guarded("?", lambda: r.string(doc.get("id"), _line_of(doc, "id"), "id"))
    if ident != "?" and not ID_PATTERN.fullmatch(ident):
        r.fail(_line_of(doc, "id"), f"id: {shown(ident)} must be lowercase letters, digits, "
               "dashes")
    elif len(ident) > MAX_ID_CHARS:
        r.fail(_line_of(doc, "id"), f"id: {len(ident)} characters; at most {MAX_ID_CHARS} "
               "(it names the directories of every run)")
    description = r.guarded("", lambda: r.string(doc.get("description"),
                                                  _line_of(doc, "description"), "description"))
    tags = r.guarded((), lambda: r.string_list(doc.get("tags", LocatedList()),
                                               _line_of(doc, "tags"), "tags"))
    return ident, description, tags


def _modes(r: _Reader, doc: LocatedDict) -> tuple[str, ...]:
    if "modes" not in doc:
        return DEFAULT_MODES
    named = r.string_list(doc["modes"], _line_of(doc, "modes"), "modes")
    for mode in named:
        if mode not in modes.MODES:
            r.fail(_line_of(doc, "modes"),
                   f"modes: {unknown_name('L2 mode', mode, modes.MODES)}")
    return named


def _vcpu_layout(r: _Reader, doc: LocatedDict) -> tuple[int, int, tuple[int, ...]]:
    """vcpus, how many vCPU indices to accept, and no_pmu_vcpus. When `vcpus` itself is
    wrong (and reported), every index a scenario may use is accepted: `vcpus: 0` must not
    also make every `vcpu: 1` elsewhere an error."""
    vcpus = r.guarded(None, lambda: r.integer(doc.get("vcpus", 1), _line_of(doc, "vcpus"),
                                              "vcpus", 1, MAX_VCPUS, hexadecimal=False))
    indices = vcpus or MAX_VCPUS
    no_pmu = r.guarded((), r.each, doc.get("no_pmu_vcpus", LocatedList()),
                       _line_of(doc, "no_pmu_vcpus"), "no_pmu_vcpus",
                       lambda v, ln: r.integer(v, ln, "no_pmu_vcpus", 0, indices - 1))
    return vcpus or 1, indices, tuple(no_pmu)


def _check_consistency(r: _Reader, scenario: Scenario, doc: LocatedDict,
                       steps_complete: bool) -> None:
    errnos = scenario.expect.errnos
    if errnos is not None and steps_complete and len(errnos) != len(scenario.filter_calls):
        r.fail(_line_of(doc, "expect"), f"expect errnos: {len(errnos)} given for "
               f"{len(scenario.filter_calls)} filter call(s); give one per call, in order")
    for vcpu in sorted(set(scenario.no_pmu_vcpus) & set(scenario.measure)):
        r.fail(_line_of(doc, "no_pmu_vcpus"), f"no_pmu_vcpus: vCPU {vcpu} runs the "
               f"measurement (measure: {list(scenario.measure)}) and needs the PMU; measure "
               "other vCPUs or give the PMU-less one another index")
    _check_counters(r, scenario, doc)
    for vcpu in scenario.expect.vcpus or ():
        if vcpu not in scenario.measure:
            r.fail(_line_of(doc, "expect"), f"expect vcpus: vCPU {vcpu} is not measured "
                   f"(measure: {list(scenario.measure)}); add it to `measure:`")
    # With a step left out (already reported), the order of the rest proves nothing.
    initialised: set[int] = set(scenario.no_pmu_vcpus)
    for step in scenario.steps if steps_complete else ():
        if isinstance(step, InitStep) and step.irq:
            initialised.add(step.vcpu)
        elif isinstance(step, RunStep) and step.vcpu not in initialised:
            r.fail(step.line, f"run: vCPU {step.vcpu} must have its PMU initialised first "
                   f"(add `- init: {step.vcpu}` before it); KVM refuses to run it otherwise")
    if steps_complete:
        _check_pmuver(r, scenario, doc)
    _check_modes(r, scenario, doc)


def _check_pmuver(r: _Reader, scenario: Scenario, doc: LocatedDict) -> None:
    """A PMUVer write is VM setup: once, before any PMU INIT or run, on vCPUs that all
    have the PMU (a PMU-less vCPU's PMUVer reads 0, and lowering it means nothing)."""
    writes = [s for s in scenario.steps if isinstance(s, PmuVerStep)]
    for extra in writes[1:]:
        r.fail(extra.line, f"pmuver: written twice (first on line {writes[0].line}); "
               "the VMM writes it once")
    if not writes:
        return
    before = [s for s in scenario.steps[:scenario.steps.index(writes[0])]
              if isinstance(s, (InitStep, RunStep, SetPmuStep))]
    if before:
        r.fail(writes[0].line, f"pmuver: must come before every init, run and set_pmu step "
               f"(line {before[0].line} has {before[0].describe()}): a VMM sets the guest's "
               "ID registers before it brings the PMU up")
    if scenario.no_pmu_vcpus:
        r.fail(writes[0].line, "pmuver: not with no_pmu_vcpus: a vCPU without the PMU has "
               "PMUVer 0, there is nothing to lower")


def _check_modes(r: _Reader, scenario: Scenario, doc: LocatedDict) -> None:
    """Each mode's own limits (``modes.Capabilities``), with the modes that can run it."""
    ordering = any(not isinstance(s, FilterCall) for s in scenario.steps)

    def lacks(mode: Mode) -> list[str]:
        return mode.can.lacks(ordering=ordering, vcpus=scenario.vcpus,
                              without_pmu=bool(scenario.no_pmu_vcpus),
                              pmccfiltr=bool(scenario.workload.pmccfiltr))

    able = [m.name for m in modes.REGISTRY.values() if not lacks(m)]
    for name in scenario.modes:
        mode = modes.REGISTRY.get(name)
        missing = lacks(mode) if mode is not None else []  # an unknown one: said already
        if mode is not None and missing:
            instead = f"; {' or '.join(able)} mode can" if able else ""
            r.fail(_line_of(doc, "modes"), f"modes: {name} mode cannot run "
                   f"{', '.join(missing)}: {mode.can.why}{instead}")


def _check_counters(r: _Reader, scenario: Scenario, doc: LocatedDict) -> None:
    """What could only fail or err once running: a counter expected both to count and not
    to, or one the workload does not program (nothing would be read back to judge)."""
    expect, workload = scenario.expect, scenario.workload
    line = _line_of(doc, "expect")
    both = sorted(set(expect.counting or ()) & set(expect.not_counting or ()))
    if both:
        r.fail(line, f"expect: {', '.join(both)} both in counting and in not_counting")
    programmed = {r.events.name_of(e) for e in workload.events}
    if workload.cycle_counter:
        programmed.add(COUNTER_REF_CYCLES)
    for ref in dict.fromkeys([*(expect.counting or ()), *(expect.not_counting or ())]):
        if ref not in programmed:
            r.fail(line, f"expect: counter {ref} is not programmed by the workload "
                   f"(it programs {', '.join(sorted(programmed)) or 'nothing'}); add it to "
                   "`workload: events:`" + (" or set `cycle_counter: true`"
                                            if ref == COUNTER_REF_CYCLES else ""))


def _scenario(r: _Reader, doc: LocatedDict) -> Scenario:
    misspelt = r.unknown_keys(doc, "scenario", TOP_KEYS)
    for key in REQUIRED_KEYS:
        if key not in doc and key not in misspelt:  # "did you mean" already said it
            r.fail(doc.line, f"missing required key {key!r} ({TOP_KEYS[key]})")
    ident, description, tags = _identity(r, doc)
    vcpus, indices, no_pmu = _vcpu_layout(r, doc)
    problems_before_steps = len(r.problems)
    steps = r.guarded((), lambda: _steps(r, doc, indices)) if "filters" in doc else ()
    steps_complete = len(r.problems) == problems_before_steps
    scenario = Scenario(
        id=ident,
        description=description,
        tags=tags,
        machines=r.guarded(None, lambda: _names(r, doc, "machines", r.known_machines)),
        kernels=r.guarded(None, lambda: _names(r, doc, "kernels", r.known_kernels)),
        modes=r.guarded(DEFAULT_MODES, lambda: _modes(r, doc)),
        vcpus=vcpus,
        no_pmu_vcpus=no_pmu,
        control=r.guarded(True, lambda: r.boolean(doc.get("control", True),
                                                  _line_of(doc, "control"), "control")),
        steps=steps,
        workload=r.guarded(Workload((), True, DEFAULT_LOOPS), lambda: _workload(r, doc))
        if "workload" in doc else Workload((), True, DEFAULT_LOOPS),
        expect=r.guarded(Expectations(), lambda: _expectations(r, doc)),
        path=r.path,
        id_line=_line_of(doc, "id"),
        measure=r.guarded(DEFAULT_MEASURE, lambda: _measure(r, doc, vcpus, indices)),
    )
    _check_consistency(r, scenario, doc, steps_complete)
    return scenario


def parse_scenario(
    path: Path,
    *,
    known_machines: Iterable[str] = (),
    known_kernels: Iterable[str] = (),
    events: EventTable | None = None,
) -> Scenario:
    """Read and validate one scenario file; raise ``UsageError`` with every problem found."""
    doc = load_located(path)
    reader = _Reader(path, events=events or default_event_table(),
                     known_machines=frozenset(known_machines),
                     known_kernels=frozenset(known_kernels))
    if not isinstance(doc, LocatedDict):
        raise UsageError("", (Located(path, 1, "expected a mapping (id:, description:, "
                                      "filters:, workload:, ...) at the top of the file"),))
    scenario = _scenario(reader, doc)
    if reader.problems:
        ordered = sorted(reader.problems, key=lambda p: p.line or 0)
        raise UsageError(f"{len(ordered)} problem(s) in {path}", tuple(ordered))
    return scenario
