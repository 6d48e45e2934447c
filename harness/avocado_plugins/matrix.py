"""Which tests a scenario file makes for avocado, and what their results mean there.

Pure: no avocado import, so the resolver and the runner agree on one definition and the unit
tests need no avocado job. The defaults are ``pmu-harness run``'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

from harness.errors import UsageError
from harness.modes import DEFAULT_MODES, REGISTRY
from harness.paths import PROJECT_ROOT
from harness.plan import (
    DEFAULT_KERNELS,
    DEFAULT_MACHINES,
    LOCAL_KERNEL,
    Case,
    check_names,
    plan_cases,
)
from harness.results import CLASSES, CaseResult, Outcome
from harness.scenario.discover import SUFFIXES, load_scenario
from harness.scenario.model import Scenario

#: Seconds a test may take, per mode, unless the ``pmu_harness.timeout`` setting says
#: otherwise (``harness.modes``: an L1 boot, a cold image build and one retry in a fresh L1).
DEFAULT_TIMEOUTS = {name: mode.avocado_timeout_seconds for name, mode in REGISTRY.items()}

#: The harness's outcomes as avocado results. Inconclusive is not a pass (the test said
#: nothing about the kernel), and it is not a failure of the kernel either: an error.
def avocado_status(result: CaseResult) -> tuple[str, str | None]:
    """avocado's status of a result and its ``fail_class``, from the error class."""
    if result.error_class is None:
        return ("skip" if result.outcome is Outcome.SKIP else "pass"), None
    return CLASSES[result.error_class].avocado, f"pmu-harness {result.error_class.value}"

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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ScenarioReference(TypedDict):
    # Spelt out key by key: a runnable takes these as keyword arguments, next to its own.
    sha256: str
    project_path: NotRequired[str]


def scenario_reference(path: Path) -> ScenarioReference:
    """How a runnable names its scenario file so that another host can find its own copy:
    the path inside the project (when it is there) and the content's SHA-256."""
    reference: ScenarioReference = {"sha256": _sha256(path)}
    resolved = path.resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        reference["project_path"] = str(resolved.relative_to(PROJECT_ROOT))
    return reference


def scenario_file(uri: str, kwargs: Mapping[str, object]) -> Path:
    """The scenario file a runner reads: this host's checkout's copy when the runnable names
    one (a remote spawner's host has its own checkout, not the job host's paths), else the
    URI."""
    inside = kwargs.get("project_path")
    if isinstance(inside, str) and inside:
        local = PROJECT_ROOT / inside
        if local.is_file():
            return local
    return Path(uri)


def check_same_scenario(path: Path, sha256: object) -> None:
    """``UsageError`` when the file read is not the one the job resolved."""
    if isinstance(sha256, str) and sha256 and _sha256(path) != sha256:
        raise UsageError(f"{path}: not the scenario the job resolved (its SHA-256 differs): "
                         "the file changed after the job started, or this host has another "
                         "revision of pmu-harness (every host must run the job host's)")
