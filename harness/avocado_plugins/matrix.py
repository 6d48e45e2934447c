"""Which tests a scenario file makes for avocado, and what their results mean there.

Pure: no avocado import, so the resolver and the runner agree on one definition and the unit
tests need no avocado job. The defaults are ``pmu-harness run``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.modes import DEFAULT_MODES, REGISTRY
from harness.plan import (
    DEFAULT_KERNELS,
    DEFAULT_MACHINES,
    LOCAL_KERNEL,
    Case,
    check_names,
    plan_cases,
)
from harness.results import Outcome
from harness.scenario.discover import SUFFIXES, load_scenario
from harness.scenario.model import Scenario

#: Seconds a test may take, per mode, unless the ``pmu_harness.timeout`` setting says
#: otherwise (``harness.modes``: an L1 boot, a cold image build and one retry in a fresh L1).
DEFAULT_TIMEOUTS = {name: mode.avocado_timeout_seconds for name, mode in REGISTRY.items()}

#: The harness's outcomes as avocado results. Inconclusive is not a pass (the test said
#: nothing about the kernel), and it is not a failure of the kernel either: an error.
AVOCADO_RESULTS = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "fail",
    Outcome.INCONCLUSIVE: "error",
    Outcome.ERROR: "error",
    Outcome.SKIP: "skip",
}

Tags = dict[str, set[str] | None]


@dataclass(frozen=True)
class Matrix:
    """The kernels x machines x modes every scenario runs on, and the per-test timeout."""

    kernels: tuple[str, ...] = DEFAULT_KERNELS
    machines: tuple[str, ...] = DEFAULT_MACHINES
    modes: tuple[str, ...] = DEFAULT_MODES
    timeout: int | None = None  # seconds, for every test; None: DEFAULT_TIMEOUTS by mode

    def check(self) -> None:
        """``UsageError`` naming every unknown profile or mode."""
        problems = [f"no {kind} chosen" for kind, names in (
            ("kernel", self.kernels), ("machine", self.machines), ("mode", self.modes))
            if not names]
        try:
            check_names([k for k in self.kernels if k != LOCAL_KERNEL], self.machines,
                        self.modes)
        except UsageError as exc:
            problems.append(str(exc))
        if LOCAL_KERNEL in self.kernels:  # it needs --kernel-image: only the native CLI
            problems.append("the `local` kernel needs --kernel-image: use `pmu-harness run`")
        if self.timeout is not None and self.timeout <= 0:
            problems.append(f"timeout must be a positive number of seconds, not {self.timeout}")
        if problems:
            raise UsageError("; ".join(problems))

    def timeout_for(self, mode: str) -> int:
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUTS[mode]


def is_scenario_file(path: Path) -> bool:
    return path.suffix in SUFFIXES and path.is_file()


def cases(scenarios: Iterable[Scenario], matrix: Matrix) -> list[Case]:
    """The applicable cases, in ``pmu-harness run``'s order (kernel, machine, scenario, mode)."""
    groups, _ = plan_cases(scenarios, matrix.machines, matrix.kernels, matrix.modes)
    return [case for group in groups for case in group.cases]


def tags(case: Case) -> Tags:
    """avocado's tags: the scenario's (``key:value`` ones as keys), and the case's machine,
    kernel and mode as ``machine:max`` ... so ``--filter-by-tags kernel:debian-6.1`` works."""
    result: Tags = {}
    for tag in case.scenario.tags:
        key, sep, value = tag.partition(":")
        if sep:
            values = result.get(key)
            result[key] = (values or set()) | {value}
        else:
            result.setdefault(tag, None)
    for key, value in (("machine", case.machine), ("kernel", case.kernel),
                       ("mode", case.mode)):
        result[key] = {value}
    return result


def load_case(path: Path, scenario_id: str, machine: str, kernel: str, mode: str) -> Case:
    """The case a runnable names, read again from its scenario file (``UsageError`` if the
    file changed so that it no longer holds that scenario, or the case does not apply)."""
    scenario = load_scenario(path, scenario_id)
    case = Case(scenario, machine, kernel, mode)
    if case not in cases([scenario], Matrix((kernel,), (machine,), (mode,))):
        raise UsageError(f"{path}: scenario {scenario_id!r} does not apply to "
                         f"{machine}/{kernel}/{mode}")
    return case
