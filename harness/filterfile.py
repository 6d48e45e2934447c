"""Serialise a scenario's calls and workload into the filter file L2 reads (docs/filter-file.rst).

The L2 side reads only this file, so it is also the exact record of what was asked of KVM:
it is kept in every run's artefacts directory.
"""

from __future__ import annotations

from harness.events import format_event
from harness.scenario.model import FilterCall, InitStep, Scenario, Step, action_word

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
