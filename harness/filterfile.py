"""Serialise a scenario's calls and workload into the filter file L2 reads (docs/filter-file.rst).

The L2 side reads only this file, so it is also the exact record of what was asked of KVM:
it is kept in every run's artefacts directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import Located, UsageError
from harness.events import format_event
from harness.printable import printable
from harness.scenario.model import (
    DEFAULT_MEASURE,
    PMCCFILTR_EVENT_FIELD,
    PMU_CHOICES,
    Action,
    FilterCall,
    HasAttrStep,
    InitStep,
    PmuVerStep,
    RunStep,
    Scenario,
    SetPmuStep,
    Step,
    Workload,
    action_word,
)

FORMAT_LINE = "pmu-harness-filter 1"
NO_IRQ = "no-irq"  # `init V no-irq`: PMU INIT without setting the PMU's IRQ first


def _step_line(step: Step) -> str:
    if isinstance(step, FilterCall):
        comment = format_event(step.base) if step.nevents == 1 else f"{step.nevents} events"
        return (f"filter {step.vcpu} 0x{step.base:x} {step.nevents} "
                f"{action_word(step.action)}  # {comment}")
    if isinstance(step, InitStep):
        return f"init {step.vcpu}" + ("" if step.irq else f" {NO_IRQ}")
    if isinstance(step, HasAttrStep):
        return f"has-attr {step.vcpu}"
    if isinstance(step, PmuVerStep):
        return f"pmuver 0x{step.version:x}"
    if isinstance(step, SetPmuStep):
        return f"set-pmu {step.vcpu} {step.pmu}"
    return f"run {step.vcpu}"


def render(scenario: Scenario, *, with_filters: bool = True) -> str:
    """The file for one run; ``with_filters=False`` gives the unfiltered control."""
    # The file name is anyone's text: a newline in it would start a live directive.
    lines = [FORMAT_LINE, f"# scenario {scenario.id}: {printable(scenario.path.name)}",
             f"vcpus {scenario.vcpus}"]
    lines += [f"no-pmu-vcpu {v}" for v in scenario.no_pmu_vcpus]
    if scenario.measure != DEFAULT_MEASURE:
        # The control measures where the filtered run does: each vCPU needs its own.
        lines.append("measure " + " ".join(str(v) for v in scenario.measure))
    # The control is the same VM without the filter: it keeps the VM's set-up (the guest's
    # PMU version), so that a counter's control shows what the filtered run would count.
    lines += [_step_line(step) for step in scenario.steps
              if with_filters or isinstance(step, PmuVerStep)]
    workload = scenario.workload
    events = ",".join(f"0x{e:x}" for e in workload.events) or "-"
    lines.append(f"workload {events} cycles={int(workload.cycle_counter)} "
                 f"loops={workload.loops}{_pmccfiltr_option(workload)}")
    return "\n".join(lines) + "\n"


def _pmccfiltr_option(workload: Workload) -> str:
    """Only when the guest writes something other than 0, so every other file (and every
    shared control) reads as before."""
    return f" pmccfiltr=0x{workload.pmccfiltr:x}" if workload.pmccfiltr else ""


@dataclass(frozen=True)
class FilterFile:
    """A filter file read back: what a run asked of KVM."""

    vcpus: int
    no_pmu_vcpus: tuple[int, ...]
    steps: tuple[Step, ...]
    workload: Workload
    measure: tuple[int, ...] = DEFAULT_MEASURE


# The C reader's limits (guest-images/probe/filterfile.h), so that both refuse alike.
MAX_VCPUS = 8
MAX_WORKLOAD_EVENTS = 31
MAX_STEPS = 1024
MAX_LOOPS = 0xFFFFFFFF
DEFAULT_WORKLOAD = Workload((0x11, 0x08), True, 200000)
DEFAULT_LOOPS = 200000
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]+")
# Significant decimal digits of a number (20 hold any 64-bit value; 16 hex digits do):
# Python would convert thousands of digits, the C reader stops at its maximum.
MAX_NUMBER_CHARS = 20
MAX_TOKENS = 16
# What separates tokens for the C reader (strtok_r " \t\r\n"): not every Unicode space.
_SEPARATORS = re.compile(r"[ \t\r]+")


class _Bad(Exception):
    """Internal: the message for the line being read."""


def _number(token: str, what: str, maximum: int) -> int:
    """Decimal or 0x hex, as the C reader takes it: no sign, no octal, no spaces, leading
    zeros allowed; digits past any 64-bit value are refused without being converted."""
    value = None
    if _HEX.fullmatch(token) and len(token[2:].lstrip("0")) <= 16:
        value = int(token[2:], 16)
    elif _DECIMAL.fullmatch(token) and len(token.lstrip("0")) <= MAX_NUMBER_CHARS:
        value = int(token, 10)
    if value is None or value > maximum:
        raise _Bad(f"{what} {printable(token[:40])!r} is not a number in 0..{maximum}")
    return value


def _arguments(args: list[str], count: int, word: str) -> list[str]:
    if len(args) != count:
        raise _Bad(f"{word!r} takes {count} argument(s), got {len(args)}")
    return args


def _action(word: str) -> int:
    known = {"allow": int(Action.ALLOW), "deny": int(Action.DENY)}
    return known[word] if word in known else _number(word, "action", 0xFF)


def _workload(fields: list[str]) -> Workload:
    if not fields:
        raise _Bad("'workload' needs an event list (or '-')")
    listed = [] if fields[0] == "-" else fields[0].split(",")
    if len(listed) > MAX_WORKLOAD_EVENTS:
        raise _Bad(f"more than {MAX_WORKLOAD_EVENTS} workload events")
    events = tuple(_number(e, "event", 0xFFFF) for e in listed)
    cycles, loops, pmccfiltr = 0, DEFAULT_LOOPS, 0
    for option in fields[1:]:
        name, _, value = option.partition("=")
        if name == "cycles":
            cycles = _number(value, "cycles", 1)
        elif name == "loops":
            loops = _number(value, "loops", MAX_LOOPS)
        elif name == "pmccfiltr":
            pmccfiltr = _number(value, "pmccfiltr", PMCCFILTR_EVENT_FIELD)
        else:
            raise _Bad(f"unknown workload option {printable(option[:40])!r}")
    return Workload(events, cycles == 1, loops, pmccfiltr)


@dataclass
class _File:
    """What has been read so far."""

    vcpus: int = 1
    no_pmu: list[tuple[int, int]] = field(default_factory=list)  # vCPU, line
    steps: list[Step] = field(default_factory=list)
    workload: Workload | None = None
    measure: tuple[int, ...] = DEFAULT_MEASURE
    measure_line: int = 0
    seen: set[str] = field(default_factory=set)  # directives that may appear once


def _once(state: _File, word: str) -> None:
    if word in state.seen:
        raise _Bad(f"duplicate {word!r} line")
    state.seen.add(word)


def _directive(state: _File, word: str, args: list[str], line: int) -> None:
    if word in ("pmu-harness-filter", "vcpus", "workload", "measure"):
        _once(state, word)
    if word == "pmu-harness-filter":
        version = _number(_arguments(args, 1, word)[0], "format version", 0xFFFF)
        if version != 1:
            raise _Bad(f"unsupported format version {version} (want 1)")
    elif word == "vcpus":
        state.vcpus = _number(_arguments(args, 1, word)[0], "vcpus", MAX_VCPUS)
        if state.vcpus < 1:
            raise _Bad(f"vcpus must be 1..{MAX_VCPUS}")
    elif word == "no-pmu-vcpu":
        state.no_pmu.append((_number(_arguments(args, 1, word)[0], "vcpu", MAX_VCPUS - 1),
                             line))
    elif word == "workload":
        state.workload = _workload(args)
    elif word == "measure":
        state.measure, state.measure_line = _measure(args), line
    else:
        _step(state, word, args, line)


def _measure(args: list[str]) -> tuple[int, ...]:
    if not 1 <= len(args) <= MAX_VCPUS:
        raise _Bad(f"'measure' takes 1 to {MAX_VCPUS} vCPUs, got {len(args)}")
    vcpus: list[int] = []
    for arg in args:
        vcpu = _number(arg, "vcpu", MAX_VCPUS - 1)
        if vcpu in vcpus:
            raise _Bad(f"vCPU {vcpu} is measured twice")
        vcpus.append(vcpu)
    return tuple(vcpus)


def _step(state: _File, word: str, args: list[str], line: int) -> None:
    if word not in ("filter", "init", "run", "set-pmu", "has-attr", "pmuver"):
        raise _Bad(f"unknown directive {printable(word[:40])!r}")
    if len(state.steps) == MAX_STEPS:
        raise _Bad(f"more than {MAX_STEPS} steps")
    if word == "filter":
        vcpu, base, count, action = _arguments(args, 4, word)
        state.steps.append(FilterCall(_number(base, "base event", 0xFFFF),
                                      _number(count, "nevents", 0xFFFF), _action(action),
                                      _number(vcpu, "vcpu", MAX_VCPUS - 1), line))
        return
    if word == "set-pmu":
        vcpu, pmu = _arguments(args, 2, word)
        index = _number(vcpu, "vcpu", MAX_VCPUS - 1)
        if pmu not in PMU_CHOICES:
            raise _Bad(f"PMU {printable(pmu[:40])!r} is not host or other")
        state.steps.append(SetPmuStep(index, pmu, line))
        return
    if word == "pmuver":
        version = _number(_arguments(args, 1, word)[0], "PMUVer", 0xF)
        state.steps.append(PmuVerStep(version, line))
        return
    if word == "init":
        state.steps.append(_init(args, line))
        return
    vcpu_index = _number(_arguments(args, 1, word)[0], "vcpu", MAX_VCPUS - 1)
    state.steps.append(HasAttrStep(vcpu_index, line) if word == "has-attr"
                       else RunStep(vcpu_index, line))


def _init(args: list[str], line: int) -> InitStep:
    """``init V`` or ``init V no-irq``."""
    if len(args) not in (1, 2):
        raise _Bad(f"'init' takes 1 or 2 argument(s), got {len(args)}")
    if len(args) == 2 and args[1] != NO_IRQ:
        raise _Bad(f"init option {printable(args[1][:40])!r} is not {NO_IRQ}")
    return InitStep(_number(args[0], "vcpu", MAX_VCPUS - 1), line, irq=len(args) == 1)


def _problem(source: Path, line: int | None, message: str) -> UsageError:
    problem = Located(source, line, message)
    return UsageError(str(problem), (problem,))


def _check_vcpus(state: _File, source: Path) -> None:
    """vCPU indices against the final `vcpus`, as the C reader checks them."""
    for step in state.steps:
        if step.vcpu >= state.vcpus:
            raise _problem(source, step.line, f"vcpu {step.vcpu} out of range "
                           f"(vcpus {state.vcpus})")
    for vcpu in state.measure:
        if vcpu >= state.vcpus:
            raise _problem(source, state.measure_line, f"measured vcpu {vcpu} out of range "
                           f"(vcpus {state.vcpus})")
    # In vCPU order, each at its last line: the C reader keeps a bit mask.
    for vcpu, line in sorted(dict(state.no_pmu).items()):
        if vcpu >= state.vcpus:
            raise _problem(source, line, f"no-pmu-vcpu {vcpu} out of range "
                           f"(vcpus {state.vcpus})")


def parse(text: str, source: Path = Path("<filter file>")) -> FilterFile:
    """The inverse of ``render``, as strict as the C reader (guest-images/probe/filterfile.c):
    lines end at "\\n" only, ``#`` starts a comment, and anything it refuses is a
    ``UsageError`` naming the line."""
    state = _File()
    for number, raw in enumerate(text.split("\n"), start=1):
        if "\0" in raw:
            raise _problem(source, number, "NUL byte in line")
        fields = [f for f in _SEPARATORS.split(raw.split("#", 1)[0]) if f]
        if not fields:
            continue
        if len(fields) > MAX_TOKENS:
            raise _problem(source, number, "too many tokens")
        if "pmu-harness-filter" not in state.seen and fields[0] != "pmu-harness-filter":
            raise _problem(source, number, "first directive must be 'pmu-harness-filter 1'")
        try:
            _directive(state, fields[0], fields[1:], number)
        except _Bad as exc:
            raise _problem(source, number, str(exc)) from None
    if "pmu-harness-filter" not in state.seen:
        raise _problem(source, None, "end of file before the 'pmu-harness-filter 1' line")
    _check_vcpus(state, source)
    return FilterFile(state.vcpus, tuple(v for v, _ in state.no_pmu), tuple(state.steps),
                      state.workload or DEFAULT_WORKLOAD, state.measure)
