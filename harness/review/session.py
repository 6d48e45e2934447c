"""A review, run: the kernels built (all of them first: a series that does not apply, or
does not compile, stops the review before anything boots), the review suite run on each,
and every case judged again against the tree's documented API (``judging``)."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.catalog import MACHINES
from harness.errors import UsageError
from harness.execute.case import OBSERVED
from harness.execute.health import CHECK_NAME
from harness.execute.pool import run_groups
from harness.execute.prebuild import prebuild_source_kernels
from harness.images import ImageSet
from harness.images.kinds import kernel_kind, load_profile
from harness.images.kinds.source import source_build_spec
from harness.images.profiles import SourceOverrides
from harness.kbuild.build import read_inputs
from harness.kbuild.series import apply_series, load_series
from harness.paths import PROJECT_ROOT
from harness.plan import Case, Plan, Request, RunOptions, make_plan
from harness.results import CaseResult
from harness.review.inputs import CaseInput, ReviewInputs
from harness.review.model import Variant
from harness.review.thread import thread_of
from harness.review.warnings import new_warnings

log = logging.getLogger(__name__)

SUITE = "review"
DEBUG_OPTION = "debug"
Progress = Callable[[CaseResult], None]
Announce = Callable[[str], None]


@dataclass(frozen=True)
class ReviewRequest:
    series: Path
    base: str                       # a source kernel profile
    tree: Path | None = None
    against: Path | None = None
    machines: tuple[str, ...] = ()  # only the suite's runs on these (default: all)
    debug: bool = False
    jobs: int = 1
    snapshots: bool = True
    command: str = ""               # how the review was asked for, for the report


@dataclass(frozen=True)
class _Planned:
    role: str
    label: str
    series: tuple[Path, ...]
    plan: Plan


def series_label(path: Path) -> str:
    """A series as a reader knows it: its file name, or a directory with its parent when
    the directory's own name says little (``deny-ignored/6.12``)."""
    if path.is_dir() and not any(c.isalpha() for c in path.name):
        return f"{path.parent.name}/{path.name}"
    return path.name


def _overrides(request: ReviewRequest, series: tuple[Path, ...]) -> SourceOverrides:
    options = (DEBUG_OPTION,) if request.debug else ()
    return SourceOverrides(tree=request.tree, series=series, options=options)


def plan_review(request: ReviewRequest) -> list[_Planned]:
    """The base, the series and (with --against) the earlier revision, each planned on the
    review suite; every name and the series files checked here (exit 2)."""
    profile = load_profile(request.base)
    if not kernel_kind(profile).takes_overrides:
        raise UsageError(f"--base {request.base}: a review builds its kernels; pick a source "
                         "kernel profile (pmu-harness list --kernels), e.g. source-6.12")
    roles: list[tuple[str, str, tuple[Path, ...]]] = [("base", request.base, ())]
    for role, path in (("series", request.series), ("against", request.against)):
        if path is not None:
            load_series(path)  # a file that is no series is the user's error, now
            roles.append((role, f"{request.base} + {series_label(path)}", (path,)))
    MACHINES.check(request.machines)
    planned = []
    for role, label, series in roles:
        options = RunOptions(snapshots=request.snapshots, overrides=_overrides(request, series))
        plan = make_plan(Request(suite=SUITE, kernels=(request.base,), options=options))
        if request.machines:
            # Only the suite's runs on these machines: the linux-mode run stays on max.
            plan = replace(plan, groups=tuple(g for g in plan.groups
                                              if g.machine in request.machines))
        if not plan.groups:
            raise UsageError(f"the review suite runs on no machine of "
                             f"{', '.join(request.machines)}")
        planned.append(_Planned(role, label, series, plan))
    return planned


def _observed(result: CaseResult) -> dict[str, Any] | None:
    """``observed.json`` of a finished case (None when it has none: it erred first)."""
    if not result.artefacts or not result.kernel_version:
        return None
    try:
        data = json.loads((Path(result.artefacts) / OBSERVED).read_text())
    except (OSError, ValueError) as exc:
        log.debug("no observation for %s: %s", result.name, exc)
        return None
    return data if isinstance(data, dict) and "filtered" in data else None


def case_input(case: Case, result: CaseResult) -> CaseInput:
    return CaseInput(case.scenario.id, case.machine, case.mode, result.outcome,
                     result.reason, result.kernel_version, result.artefacts or "",
                     _observed(result),
                     next((c for c in result.checks if c.name == CHECK_NAME), None))


def _variant(planned: _Planned, images: ImageSet, results: Sequence[CaseResult],
             run_dir: Path) -> Variant:
    counts = dict(Counter(result.outcome.value for result in results))
    version = next((r.kernel_version for r in results if r.kernel_version), "")
    build = images.build or {}
    return Variant(planned.role, planned.label, images.kernel_profile, version,
                   images.kernel_prediction, tuple(str(p) for p in planned.series),
                   images.kernel_sha256, str(build.get("build_log", "")), str(run_dir),
                   counts)


def _log_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _harness_commit() -> str:
    try:
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12",
                               "HEAD"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def check_applies(planned: Sequence[_Planned]) -> None:
    """Every series applied to its tree in a scratch directory (only the files it touches):
    one that does not apply is exit 2, naming patch and hunk, before any kernel builds."""
    for one in planned:
        if not one.series:
            continue
        kernel = one.plan.groups[0].kernel
        spec = source_build_spec(load_profile(kernel), one.plan.options.overrides)
        inputs = read_inputs(spec, progress=False)
        with tempfile.TemporaryDirectory(prefix="pmu-harness-apply-") as scratch:
            apply_series(list(inputs.series), inputs.tree.root, Path(scratch))


def prepare(request: ReviewRequest) -> list[_Planned]:
    """Everything a review can be refused for, before any directory is made or anything
    builds: names, series files, and whether each series applies (exit 2)."""
    planned = plan_review(request)
    check_applies(planned)
    return planned


def collect(request: ReviewRequest, planned: Sequence[_Planned], run_dir: Path,
            progress: Progress, announce: Announce) -> ReviewInputs:
    """Build every kernel, run the review suite on each, and gather what the analysis
    needs."""
    announce(f"building {', '.join(one.label for one in planned)}")
    # Every kernel before anything boots, held together: none is evicted for another.
    built = prebuild_source_kernels(*(one.plan for one in planned))
    images = {one.role: next(iter(found.values()))
              for one, found in zip(planned, built.images, strict=True)}
    cases: dict[str, tuple[CaseInput, ...]] = {}
    variants = []
    for one in planned:
        announce(f"running {one.plan.case_count} case(s) on {one.label}")
        start = time.monotonic()
        results = run_groups(one.plan.groups, run_dir / one.role, one.plan.options,
                             request.jobs, progress).unless_interrupted()
        announce(f"{one.label}: {len(results)} case(s) in {time.monotonic() - start:.0f} s")
        by_name = {c.name: c for g in one.plan.groups for c in g.cases}
        cases[one.role] = tuple(case_input(by_name[r.name], r) for r in results
                                if r.name in by_name)
        variants.append(_variant(one, images[one.role], results, run_dir / one.role))
    series = load_series(request.series)
    warnings = new_warnings(_log_text(variants[1].build_log), _log_text(variants[0].build_log),
                            series.touched())
    return ReviewInputs(
        series=str(request.series),
        patches=tuple(p.label.split("] ", 1)[-1] for p in series.patches),
        variants=tuple(variants), cases=cases, warnings=tuple(warnings),
        thread=thread_of(request.series),
        commands=(request.command,) if request.command else (),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), harness=_harness_commit(),
        machines=tuple(sorted({g.machine for one in planned for g in one.plan.groups})))
