"""What a run will do, decided before anything starts.

A request (a suite, or the command line's paths x kernels x machines x modes x tags, an
optional shard, how L1s are brought up) becomes a ``Plan``: frozen cases grouped per L1
(one kernel x machine), the cases skipped with why, and the run's options. Every name,
profile and KVM mode is checked here, so a bad one is a usage error (exit 2) found in
the parent process, never an error inside a worker. The front ends (``pmu-harness run``,
``rerun``, the avocado plugins) build requests and call this; none imports another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.catalog import KERNELS, MACHINES, unknown_name
from harness.errors import InfraError, UsageError
from harness.images import ImageSet
from harness.images.kinds import kernel_kind, load_profile
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.l2.settings import L2_KERNEL_SMALL, L2Settings
from harness.machine.profile import MACHINES_DIR, load_machine_profile
from harness.modes import DEFAULT_MODES, LINUX_MODE, MODES
from harness.paths import SCENARIOS_DIR
from harness.results import CaseResult, ErrorClass, Outcome, class_of_outcome
from harness.scenario.discover import load_scenarios, with_tags
from harness.scenario.model import Scenario
from harness.shard import in_shard, parse_shard
from harness.suite import SuiteRun, load_suite

DEFAULT_KERNELS = ("debian-6.1",)
DEFAULT_MACHINES = ("max",)
LOCAL_KERNEL = "local"  # the kernel profile of a user's own Image (--kernel-image)


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    machine: str
    kernel: str
    mode: str

    @property
    def name(self) -> str:
        return f"{self.scenario.id}[{self.machine},{self.kernel},{self.mode}]"

    @property
    def slug(self) -> str:
        return f"{self.scenario.id}-{self.mode}"

    def result(self, outcome: Outcome, reason: str,
               error_class: ErrorClass | None = None) -> CaseResult:
        """This case's result with its identity filled in (the rest: ``replace``). The
        class of a verdict follows from its outcome; an error's must be given (it comes
        from what was raised: ``results.class_of_exception``)."""
        return CaseResult(name=self.name, scenario=self.scenario.id, machine=self.machine,
                          kernel=self.kernel, mode=self.mode, outcome=outcome, reason=reason,
                          tags=self.scenario.tags,
                          error_class=error_class or class_of_outcome(outcome))


@dataclass(frozen=True)
class Group:
    """Cases that share one L1 machine."""

    machine: str
    kernel: str
    cases: tuple[Case, ...]
    # A long group is run in parts, each in its own L1 (harness/execute/balance.py): 0 is
    # the whole group or its first part.
    part: int = 0

    def directory(self, run_dir: Path) -> Path:
        """Where its L1's logs and its cases' artefacts go in a run."""
        suffix = f"-part{self.part + 1}" if self.part else ""
        return run_dir / f"{self.kernel}-{self.machine}{suffix}"


@dataclass(frozen=True)
class RunOptions:
    """How every L1 of a run is brought up, and how hard infrastructure errors are retried."""

    # Restore each L1 from a saved booted state when one matches (harness.machine.snapshot);
    # False boots every L1 cold.
    snapshots: bool = True
    kvm_mode: str | None = None
    local_image: Path | None = None
    local_modules: Path | None = None
    # A case that hits an infrastructure error runs again in a fresh L1 (it may have wedged
    # the old one: a vCPU stuck in KVM_RUN ignores even SIGKILL), up to this many times.
    # Failed checks are never retried: a flaky kernel must show as flaky.
    retries: int = 1
    # Cases of one L1 whose unfiltered controls would be the same run share one
    # (harness/execute/control.py); off, every case runs its own.
    share_controls: bool = True
    # Where machine profiles are read from, and images to use instead of building them from
    # the kernel profile: `rerun` points these at a bundle's copies and cached images.
    machines_dir: Path = MACHINES_DIR
    image_set: ImageSet | None = None
    # --tree/--series for source kernel profiles
    overrides: SourceOverrides = NO_OVERRIDES
    # Linux mode's L2: --l2-kernel, --l2-boot
    l2: L2Settings = field(default_factory=L2Settings)


@dataclass(frozen=True)
class Request:
    """What to run: a suite, or one selection from the command line (empty: defaults)."""

    paths: tuple[Path, ...] = ()
    kernels: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    suite: str | None = None
    shard: str | None = None
    options: RunOptions = field(default_factory=RunOptions)


@dataclass(frozen=True)
class Plan:
    groups: tuple[Group, ...]
    skipped: tuple[CaseResult, ...]
    options: RunOptions

    @property
    def case_count(self) -> int:
        return sum(len(g.cases) for g in self.groups)

    def needs_l2(self) -> bool:
        """Whether a case of the plan runs a Linux guest in L2 (linux mode)."""
        return any(case.mode == LINUX_MODE for group in self.groups for case in group.cases)

    def needs_small_l2_kernel(self) -> bool:
        """Whether a linux-mode case of the plan boots the small L2 kernel built here."""
        return self.options.l2.kernel == L2_KERNEL_SMALL and self.needs_l2()

    def source_kernels(self) -> list[str]:
        """The kernels of the plan that are built here (from a tree plus a series)."""
        return _built_here(sorted({g.kernel for g in self.groups}))


def restores_l1(group: Group, options: RunOptions) -> bool:
    """Whether the group's L1 is restored from a snapshot rather than booted: snapshots on,
    and a kernel not built here (a VHE L1 of a 5.10 source kernel cannot be saved)."""
    return options.snapshots and not _built_here([group.kernel])


def _built_here(kernels: Sequence[str]) -> list[str]:
    return [k for k in kernels if kernel_kind(load_profile(k)).built_here]


def skip_reason(case: Case) -> str:
    """Which of machine, kernel or mode excluded the case, and what the scenario lists."""
    scenario = case.scenario
    if scenario.machines is not None and case.machine not in scenario.machines:
        return (f"scenario runs on machine {', '.join(scenario.machines)}, not "
                f"{case.machine}")
    if scenario.kernels is not None and case.kernel not in scenario.kernels:
        return f"scenario runs on kernel {', '.join(scenario.kernels)}, not {case.kernel}"
    if case.mode not in scenario.modes:
        return f"scenario runs in {', '.join(scenario.modes)} mode, not {case.mode}"
    return ""


def plan_cases(scenarios: Iterable[Scenario], machines: Sequence[str], kernels: Sequence[str],
               modes: Sequence[str]) -> tuple[list[Group], list[CaseResult]]:
    """The cases of one selection, grouped per L1 (kernel, machine, scenario, mode order),
    and the ones skipped (with why)."""
    groups, skipped = [], []
    scenario_list = list(scenarios)
    for kernel in kernels:
        for machine in machines:
            cases = []
            for scenario in scenario_list:
                for mode in modes:
                    case = Case(scenario, machine, kernel, mode)
                    why = skip_reason(case)
                    if why:
                        skipped.append(case.result(Outcome.SKIP, why))
                    else:
                        cases.append(case)
            if cases:
                groups.append(Group(machine, kernel, tuple(cases)))
    return groups, skipped


def check_names(kernels: Iterable[str], machines: Iterable[str], modes: Iterable[str]) -> None:
    """Every unknown kernel, machine or mode name, in one usage error."""
    problems = []
    for kind, names in ((KERNELS, kernels), (MACHINES, machines)):
        try:
            kind.check(names)
        except UsageError as exc:
            problems.append(str(exc))
    problems += [unknown_name("L2 mode", m, MODES) for m in modes if m not in MODES]
    if problems:
        raise UsageError("; ".join(problems))


def selections(request: Request) -> list[SuiteRun]:
    """The suite's runs, or one run from the command line (defaults where it gave none)."""
    if request.suite:
        if request.paths or request.modes or request.tags:
            raise UsageError("--suite chooses scenarios, modes and tags itself; drop the "
                             "paths, --mode and --tag (--kernel and --machine replace the "
                             "suite's own)")
        # "The smoke suite on my kernel": the suite's scenarios and modes, on the kernels
        # and machines given; cases two runs of the suite now share are planned once.
        return [replace(run, kernels=request.kernels or run.kernels,
                        machines=request.machines or run.machines)
                for run in load_suite(request.suite).runs]
    return [SuiteRun(request.paths or (SCENARIOS_DIR,), request.tags,
                     request.kernels or DEFAULT_KERNELS, request.machines or DEFAULT_MACHINES,
                     request.modes or DEFAULT_MODES)]


def check_local_kernel(options: RunOptions) -> None:
    """``--kernel-image`` given and present (for the ``local`` kernel)."""
    if options.local_image is None:
        raise UsageError("--kernel local needs --kernel-image PATH")
    if not options.local_image.is_file():
        # In a bisect the usual reason is a commit that does not build: skip it (125),
        # never call it bad.
        raise InfraError(f"--kernel-image {options.local_image}: no such file (did the "
                         "kernel build fail?)")


def check_groups(groups: Sequence[Group], options: RunOptions) -> None:
    """Every profile a group needs, read and checked, and the KVM mode each machine will
    boot in: all of it in the parent, before a worker or a machine starts."""
    kernels = sorted({g.kernel for g in groups})
    if LOCAL_KERNEL in kernels:
        check_local_kernel(options)
    profiles = [load_profile(k) for k in kernels]  # each read and checked: exit 2 here
    if options.overrides != NO_OVERRIDES and \
            not any(kernel_kind(p).takes_overrides for p in profiles):
        raise UsageError("--tree/--series/--revision apply to source kernel profiles; none "
                         "is selected")
    for machine in sorted({g.machine for g in groups}):
        load_machine_profile(machine, options.machines_dir).resolve_kvm_mode(options.kvm_mode)


def make_plan(request: Request) -> Plan:
    """Every selection planned, cases of the same kernel x machine sharing one L1, checked."""
    cases: dict[tuple[str, str], list[Case]] = {}
    skipped: list[CaseResult] = []
    shard = parse_shard(request.shard) if request.shard else None
    for selection in selections(request):
        check_names(selection.kernels, selection.machines, selection.modes)
        scenarios = with_tags(load_scenarios(list(selection.scenarios)), selection.tags)
        groups, skips = plan_cases(scenarios, selection.machines, selection.kernels,
                                   selection.modes)
        skipped += skips
        for group in groups:
            wanted = [c for c in group.cases if shard is None or in_shard(c.name, *shard)]
            known = cases.setdefault((group.kernel, group.machine), [])
            known += [c for c in wanted if c not in known]
    planned = tuple(Group(m, k, tuple(c)) for (k, m), c in cases.items() if c)
    check_groups(planned, request.options)
    return Plan(planned, tuple(skipped), request.options)


def single_case_plan(case: Case, options: RunOptions) -> Plan:
    """One case in its own L1 (``rerun``, an avocado test), checked like a run."""
    plan = Plan((Group(case.machine, case.kernel, (case,)),), (), options)
    check_groups(plan.groups, options)
    return plan
