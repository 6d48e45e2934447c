"""Serialise a scenario's calls and workload into the filter file L2 reads (docs/filter-file.rst).

The L2 side reads only this file, so it is also the exact record of what was asked of KVM:
it is kept in every run's artefacts directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.events import format_event
from harness.scenario.model import (
    Action,
    FilterCall,
    InitStep,
    RunStep,
    Scenario,
    Step,
    Workload,
    action_word,
)

FORMAT_LINE = "pmu-harness-filter 1"


def _step_line(step: Step) -> str:
    if isinstance(step, FilterCall):
        comment = format_event(step.base) if step.nevents == 1 else f"{step.nevents} events"
        return (f"filter {step.vcpu} 0x{step.base:x} {step.nevents} "
                f"{action_word(step.action)}  # {comment}")
    if isinstance(step, InitStep):
        return f"init {step.vcpu}"
    return f"run {step.vcpu}"


def render(scenario: Scenario, *, with_filters: bool = True) -> str:
    """The file for one run; ``with_filters=False`` gives the unfiltered control."""
    lines = [FORMAT_LINE, f"# scenario {scenario.id}: {scenario.path.name}",
             f"vcpus {scenario.vcpus}"]
    lines += [f"no-pmu-vcpu {v}" for v in scenario.no_pmu_vcpus]
    if with_filters:
        lines += [_step_line(step) for step in scenario.steps]
    workload = scenario.workload
    events = ",".join(f"0x{e:x}" for e in workload.events) or "-"
    lines.append(f"workload {events} cycles={int(workload.cycle_counter)} "
                 f"loops={workload.loops}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FilterFile:
    """A filter file read back: what a run asked of KVM."""

    vcpus: int
    no_pmu_vcpus: tuple[int, ...]
    steps: tuple[Step, ...]
    workload: Workload


def _action(word: str) -> int:
    known = {"allow": int(Action.ALLOW), "deny": int(Action.DENY)}
    return known[word] if word in known else int(word, 0)


def _workload(fields: list[str]) -> Workload:
    events = () if fields[0] == "-" else tuple(int(e, 0) for e in fields[0].split(","))
    options = dict(f.split("=", 1) for f in fields[1:])
    return Workload(events, options.get("cycles", "1") == "1",
                    int(options.get("loops", "200000"), 0))


def parse(text: str) -> FilterFile:
    """The inverse of ``render`` (and of hand-written files in the same format)."""
    vcpus, no_pmu, steps = 1, [], list[Step]()
    workload = Workload((0x11, 0x08), True, 200000)
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split()
        if not fields or fields[0] == "pmu-harness-filter":
            continue
        word, args = fields[0], fields[1:]
        if word == "vcpus":
            vcpus = int(args[0], 0)
        elif word == "no-pmu-vcpu":
            no_pmu.append(int(args[0], 0))
        elif word == "filter":
            steps.append(FilterCall(int(args[1], 0), int(args[2], 0), _action(args[3]),
                                    int(args[0], 0), number))
        elif word == "init":
            steps.append(InitStep(int(args[0], 0), number))
        elif word == "run":
            steps.append(RunStep(int(args[0], 0), number))
        elif word == "workload":
            workload = _workload(args)
        else:
            raise ValueError(f"line {number}: unknown directive {word!r}")
    return FilterFile(vcpus, tuple(no_pmu), tuple(steps), workload)
