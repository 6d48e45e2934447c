"""Mutation testing of the scenarios: the suite on the unmutated kernel, then on each planted
bug (``kernel-patches/mutants/``), each built incrementally on the same workspace.

The unmutated kernel must pass every case first: a failure there means the suite itself is
wrong, and no mutant verdict would mean anything. A mutant is killed when a case fails on
it (a check, or L1's kernel-health check), survives when every case passes (a hole in the
scenarios), and errs when nothing failed but something erred.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.catalog import SUITES, unknown_name
from harness.errors import InfraError, UsageError
from harness.execute.group import Progress
from harness.execute.pool import run_groups
from harness.execute.prebuild import prebuild_source_kernels
from harness.images.kinds import kernel_kind, load_profile
from harness.images.profiles import SourceOverrides
from harness.kbuild.series import PATCHES_DIR
from harness.located import LocatedReader
from harness.plan import Plan, Request, make_plan
from harness.results import CaseResult, ErrorClass
from harness.results.mutants import MutantResult, judge_mutant
from harness.yamlsource import LocatedDict, load_located

log = logging.getLogger(__name__)

MUTANTS_DIR = PATCHES_DIR / "mutants"
SUBDIRECTORY = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
CATALOG = MUTANTS_DIR / "mutants.yaml"
DEFAULT_SUITE = "mutants"


@dataclass(frozen=True)
class Mutant:
    name: str
    directory: Path
    breaks: str
    # The suite that can see it: the default run's (the catalog's `suite`), or its own
    # (`suite:`): the heap-corrupting ones and the leak run on a KASAN + kmemleak kernel.
    suite: str = DEFAULT_SUITE
    # The kernels it is ported to, each with its patch directory (the catalog's `targets`:
    # the 5.10 port in the mutant's own directory, the 6.12 one in `<mutant>/6.12/`). A
    # target is a port only where its directory holds a patch: a mutant written for 6.12
    # alone has just its `6.12/` directory, and no 5.10 port.
    ports: tuple[tuple[str, Path], ...] = ()

    def patches_for(self, kernel: str) -> Path | None:
        """The patch directory of this mutant on ``kernel`` (None: not ported there)."""
        return dict(self.ports).get(kernel)


@dataclass(frozen=True)
class Target:
    """A kernel the planted bugs are ported to, and where each mutant keeps its patch for
    it: ``patches`` is a sub-directory of the mutant's directory (``.``: the directory)."""

    kernel: str
    patches: str


def _target(r: LocatedReader, raw: object, line: int) -> Target:
    entry = r.mapping(raw, line, "target", ("kernel", "patches"))
    kernel: str = r.string(entry.get("kernel"), entry.key_lines.get("kernel", line), "kernel")
    patches: str = r.string(entry.get("patches"), entry.key_lines.get("patches", line),
                            "patches")
    if patches != "." and not SUBDIRECTORY.fullmatch(patches):
        raise r.fail(entry.key_lines.get("patches", line),
                     f"patches: expected '.' or a sub-directory name like '6.12', not "
                     f"{patches!r}")
    return Target(kernel, patches)


def _ports(directory: Path, targets: Sequence[Target]) -> tuple[tuple[str, Path], ...]:
    found = []
    for target in targets:
        path = directory if target.patches == "." else directory / target.patches
        if path.is_dir() and any(path.glob("*.patch")):
            found.append((target.kernel, path))
    return tuple(found)


# What the catalog no longer holds: which cases kill a mutant is measured by a real run and
# written by `mutants --record` (scores.yaml), never kept by hand; every mutant is in a run.
RETIRED_KEYS = {
    "killed_by": "which cases kill a mutant is measured, not kept by hand: `pmu-harness "
                 "mutants --record` writes it to scores.yaml",
    "in_default_run": "every mutant runs in its suite: say which with `suite:`",
    "why_not_in_default_run": "every mutant runs in its suite: say which with `suite:`",
}


def _suite_name(r: LocatedReader, raw: object, line: int) -> str:
    name: str = r.string(raw, line, "suite")
    known = SUITES.names()
    if name not in known:
        raise r.fail(line, f"suite: {unknown_name('suite', name, known)}")
    return name


def _mutant(r: LocatedReader, raw: object, line: int, targets: Sequence[Target] = (),
            default_suite: str = DEFAULT_SUITE) -> Mutant:
    if not isinstance(raw, LocatedDict):  # its other keys document the mutant: not read
        raise r.fail(line, "mutant: expected a mapping with name, directory, breaks")
    entry = raw

    def text(key: str) -> str:
        value: str = r.string(entry.get(key), entry.key_lines.get(key, line), key)
        return value

    for key, why in RETIRED_KEYS.items():
        if key in entry:
            raise r.fail(entry.key_lines.get(key, line), f"{key}: no longer read: {why}")
    name = text("name")
    directory = MUTANTS_DIR / text("directory")
    if directory.parent != MUTANTS_DIR or not directory.is_dir():
        raise r.fail(entry.key_lines.get("directory", line),
                     f"directory: no patch directory {directory.name!r} in {MUTANTS_DIR}")
    suite = (default_suite if "suite" not in entry
             else _suite_name(r, entry["suite"], entry.key_lines.get("suite", line)))
    return Mutant(name, directory, text("breaks"), suite, _ports(directory, targets))


def load_mutants(path: Path = CATALOG) -> list[Mutant]:
    """The mutants catalog, every problem located."""
    doc = load_located(path)
    r = LocatedReader(path)
    if not isinstance(doc, LocatedDict):
        raise UsageError(f"{path}: expected a mapping with `mutants:`")
    targets = r.guarded([], r.each, doc.get("targets"), doc.key_lines.get("targets", doc.line),
                        "targets", lambda raw, line: _target(r, raw, line))
    default_suite = (DEFAULT_SUITE if "suite" not in doc else r.guarded(
        DEFAULT_SUITE, _suite_name, r, doc["suite"], doc.key_lines.get("suite", doc.line)))
    found = r.guarded([], r.each, doc.get("mutants"), doc.key_lines.get("mutants", doc.line),
                      "mutants", lambda raw, line: _mutant(r, raw, line, targets,
                                                           default_suite))
    if r.problems:
        raise UsageError(f"bad mutants catalog {path}", tuple(r.problems))
    names = [m.name for m in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{path}: mutant(s) listed twice: {', '.join(twice)}")
    return list(found)


def suites_of(mutants: Sequence[Mutant]) -> list[str]:
    """The suites the mutants run in, in the catalog's order."""
    return list(dict.fromkeys(m.suite for m in mutants))


def choose(mutants: Sequence[Mutant], names: Sequence[str], kernel: str | None = None,
           suite: str = DEFAULT_SUITE) -> list[Mutant]:
    """The mutants named (every unknown name is a usage error), or the ones whose suite is
    ``suite``; on ``kernel``, only those ported to it (naming one that is not is a usage
    error)."""
    if not names:
        chosen = [m for m in mutants if m.suite == suite]
        for mutant in chosen:
            if kernel is not None and mutant.patches_for(kernel) is None:
                # e.g. a bug in a behaviour the kernel's tree does not have yet
                log.info("mutant %s skipped: it has no patch for %s (ported to: %s)",
                         mutant.name, kernel,
                         ", ".join(k for k, _ in mutant.ports) or "nothing")
        return [m for m in chosen if kernel is None or m.patches_for(kernel) is not None]
    known = {m.name: m for m in mutants}
    unknown = [unknown_name("mutant", n, known) for n in names if n not in known]
    if kernel is not None:
        unknown += [f"mutant {n!r} is not ported to {kernel} (ported: "
                    f"{', '.join(k for k, _ in known[n].ports) or 'nowhere'})"
                    for n in names if n in known and known[n].patches_for(kernel) is None]
    if unknown:
        raise UsageError("; ".join(unknown))
    return [known[n] for n in dict.fromkeys(names)]


def base_plan(request: Request) -> Plan:
    """The suite's plan on the unmutated kernel: one kernel, built from source (a mutant is
    a patch on top of its series, ported to that kernel)."""
    plan = make_plan(request)
    kernels = sorted({g.kernel for g in plan.groups})
    binary = [k for k in kernels if not kernel_kind(load_profile(k)).takes_overrides]
    if binary or not kernels:
        raise UsageError(f"suite {request.suite}: mutants are patches on a kernel built from "
                         f"source; {', '.join(binary) or 'no kernel'} is not one")
    if len(kernels) != 1:
        raise UsageError(f"suite {request.suite}: mutants run on one kernel at a time (each "
                         f"is ported to a tree), not {', '.join(kernels)}: pick one with "
                         "--kernel")
    return plan


def plan_kernel(plan: Plan) -> str:
    return plan.groups[0].kernel


def _with_mutant(plan: Plan, mutant: Mutant | None) -> Plan:
    kernel = plan_kernel(plan)
    patches = None if mutant is None else mutant.patches_for(kernel)
    if mutant is not None and patches is None:
        raise UsageError(f"mutant {mutant.name} is not ported to {kernel}")
    # A mutant is the kernel's own revision with one planted bug: it is judged by what that
    # kernel predicts (the profile's revision, or the tree's version rules), never as a new
    # series of unknown intent.
    options = replace(plan.options, overrides=SourceOverrides(
        series=() if patches is None else (patches,),
        revision=load_profile(kernel).revision))
    if mutant is not None:
        # A mutant's kernel boots once per machine: saving its L1 would cost seconds and
        # ~400 MB, never be restored, and push the unmutated kernel's snapshot (same
        # kernel profile, so the same slot) out of the cache.
        options = replace(options, snapshots=False)
    return replace(plan, options=options)


def _check_baseline(baseline: Sequence[CaseResult], where: Path) -> None:
    """A failed check on the unmutated kernel: the suite is wrong (exit 2); an error: the
    machinery (125). Either way no mutant is run."""
    failed = [r for r in baseline if r.error_class is ErrorClass.KERNEL_FAILURE]
    erred = [r for r in baseline
             if r.error_class is not None and r.error_class is not ErrorClass.KERNEL_FAILURE]
    for bad, kind in ((failed, UsageError), (erred, InfraError)):
        if bad:
            raise kind(f"the unmutated kernel does not pass the suite ({len(bad)} case(s), "
                       f"e.g. {bad[0].name}: {bad[0].outcome.value}: {bad[0].reason[:200]}); "
                       f"no mutant was run (results in {where})")


@dataclass(frozen=True)
class MutantsRun:
    """The unmutated kernel's results, then one result per mutant."""

    baseline: list[CaseResult]
    mutants: list[MutantResult]
    baseline_seconds: float


Announce = Callable[[str], None]


def _run_one(plan: Plan, mutant: Mutant, run_dir: Path, jobs: int, progress: Progress,
             suite: str) -> MutantResult:
    mutated = _with_mutant(plan, mutant)
    build_seconds = prebuild_source_kernels(mutated, progress=False).seconds
    start = time.monotonic()
    results = run_groups(mutated.groups, run_dir, mutated.options, jobs,
                         progress).unless_interrupted()
    status, killers = judge_mutant(results)
    return MutantResult(mutant.name, mutant.breaks, status, tuple(r.name for r in killers),
                        tuple(r.reason for r in killers), build_seconds,
                        time.monotonic() - start, len(results), str(run_dir),
                        suite=suite, kernel=plan_kernel(plan))


def run_mutants(plan: Plan, mutants: Sequence[Mutant], run_dir: Path, jobs: int,
                progress: Progress, announce: Announce, suite: str = "") -> MutantsRun:
    """The suite on the unmutated kernel, then on each mutant. Raises ``UsageError`` when
    the unmutated kernel does not pass (the suite is wrong; mutants would prove nothing)."""
    base = _with_mutant(plan, None)
    prebuild_source_kernels(base, progress=False)
    start = time.monotonic()
    baseline = run_groups(base.groups, run_dir / "unmutated", base.options, jobs,
                          progress).unless_interrupted()
    baseline_seconds = time.monotonic() - start
    _check_baseline(baseline, run_dir / "unmutated")
    announce(f"unmutated: {len(baseline)} case(s) passed in {baseline_seconds:.0f} s")
    outcomes = []
    for mutant in mutants:
        result = _run_one(plan, mutant, run_dir / mutant.name, jobs, progress, suite)
        announce(f"{mutant.name}: {result.status.value} (build {result.build_seconds:.0f} s, "
                 f"suite {result.suite_seconds:.0f} s)")
        outcomes.append(result)
    return MutantsRun(list(baseline), outcomes, baseline_seconds)


@dataclass(frozen=True)
class AllRun:
    """``mutants --all``: every suite's run, and the mutants no suite could run (each with
    why: not ported to its suite's kernel)."""

    runs: dict[str, MutantsRun]
    kernels: dict[str, str]  # suite -> the kernel it ran
    not_run: dict[str, str]

    @property
    def mutants(self) -> list[MutantResult]:
        return [m for run in self.runs.values() for m in run.mutants]


def run_all(mutants: Sequence[Mutant], run_dir: Path, jobs: int, progress: Progress,
            announce: Announce) -> AllRun:
    """Each mutant on its suite, suite after suite (each: its unmutated kernel first). Plans
    every suite before running any, so a bad suite stops the run before an hour is spent."""
    plans = {suite: base_plan(Request(suite=suite)) for suite in suites_of(mutants)}
    not_run = {m.name: f"not ported to {plan_kernel(plans[m.suite])}, the kernel of suite "
                       f"{m.suite}" for m in mutants
               if m.patches_for(plan_kernel(plans[m.suite])) is None}
    runs = {}
    for suite, plan in plans.items():
        chosen = [m for m in mutants if m.suite == suite and m.name not in not_run]
        if not chosen:
            continue
        announce(f"suite {suite} on {plan_kernel(plan)}: {len(chosen)} mutant(s) x "
                 f"{plan.case_count} case(s)")
        runs[suite] = run_mutants(plan, chosen, run_dir / suite, jobs, progress, announce,
                                  suite)
    return AllRun(runs, {s: plan_kernel(p) for s, p in plans.items()}, not_run)
