"""What makes two cases' unfiltered controls the same run (harness/execute/control.py): the
control file's directives and the mode, never the scenario's name or its filter calls."""

from __future__ import annotations

from dataclasses import replace

from harness.execute.control import control_question
from harness.paths import SCENARIOS_DIR
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario, Workload

SCENARIOS = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}


def base() -> Scenario:
    return SCENARIOS["member-deny"]


def test_name_path_and_filter_calls_do_not_change_the_question() -> None:
    other = replace(base(), id="renamed", path=base().path.with_name("renamed.yaml"), steps=())
    assert control_question("probe", other) == control_question("probe", base())


def test_mode_workload_vcpus_and_measured_vcpus_each_change_it() -> None:
    question = control_question("probe", base())
    workload = base().workload
    changed = [
        control_question("linux", base()),
        control_question("probe", replace(base(), workload=Workload(
            workload.events, workload.cycle_counter, workload.loops + 1))),
        control_question("probe", replace(base(), workload=Workload(
            (*workload.events, 0x8), workload.cycle_counter, workload.loops))),
        control_question("probe", replace(base(), vcpus=2)),
        control_question("probe", replace(base(), vcpus=2, measure=(0, 1))),
        control_question("probe", replace(base(), vcpus=2, no_pmu_vcpus=(1,))),
    ]
    assert question not in changed
    assert len(set(changed)) == len(changed)
