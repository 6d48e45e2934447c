"""Unfiltered control runs, shared by the cases of one L1 that would run the same one.

A case's control is its scenario run with no filter calls: what the VM counts and
advertises when nobody filters. Two cases whose control files say the same thing (vCPU
layout, vCPUs without a PMU, where to measure, workload) ask L2 the very same question, so
in one L1 (one kernel, one machine, one boot) the answer of the first is the answer of the
second: it is run once and copied into every case that asks it, with a note saying where it
came from. A fresh L1 (a retry) starts with no shared controls, and ``rerun`` of one case
runs its own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.filterfile import render
from harness.l2.guest import L2Session
from harness.l2.remote import Remote
from harness.modes import REGISTRY
from harness.observation import Observation
from harness.scenario.model import Scenario

CONTROL_PREFIX = "control."
SHARED_NOTE = "control.shared-from.txt"


def control_question(mode: str, scenario: Scenario) -> str:
    """What a control run asks L2, without the comments naming the scenario: equal texts,
    equal runs."""
    text = render(scenario, with_filters=False)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return "\n".join([f"mode {mode}", *lines])


@dataclass(frozen=True)
class _Answer:
    observation: Observation
    case_dir: Path  # whose artefacts hold the run


@dataclass
class SharedControls:
    """The control runs made so far in one L1. ``share=False`` runs every case's own."""

    share: bool = True
    answers: dict[str, _Answer] = field(default_factory=dict)

    def observe(self, mode: str, remote: Remote, scenario: Scenario,
                case_dir: Path, session: L2Session) -> Observation:
        runner = REGISTRY[mode].load_runner()
        if not self.share:
            return runner(remote, scenario, False, case_dir, session)
        question = control_question(mode, scenario)
        answer = self.answers.get(question)
        if answer is None:
            seen = runner(remote, scenario, False, case_dir, session)
            self.answers[question] = _Answer(seen, case_dir)
            return seen
        _copy_artefacts(answer.case_dir, case_dir, question)
        return answer.observation


def _copy_artefacts(source: Path, case_dir: Path, question: str) -> None:
    """The case keeps the control it was judged against, as if it had run it."""
    for path in sorted(source.glob(f"{CONTROL_PREFIX}*")):
        if path.name != SHARED_NOTE and path.is_file():
            shutil.copy2(path, case_dir / path.name)
    (case_dir / SHARED_NOTE).write_text(
        f"This case's unfiltered control was run once for every case of this L1 that asks\n"
        f"the same question, by {source.name} (its files are copied here):\n\n{question}\n")
