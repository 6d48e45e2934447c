"""Bring up one L1 per group and run its cases: the only place images, L1 and L2 meet."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness.bundle import BundleSource, write_bundle
from harness.errors import InfraError, UsageError
from harness.images import ImageSet, build_image_set
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.kernelrules import KernelVersion
from harness.machine import L1Machine, load_machine_profile
from harness.machine.profile import MACHINES_DIR, MachineProfile
from harness.runner import (
    Case,
    CaseResult,
    CaseRunner,
    Environment,
    Group,
    group_error,
    pmu_model,
)
from harness.verdict import Outcome

Progress = Callable[[CaseResult], None]


@dataclass(frozen=True)
class RunOptions:
    """How every L1 of a run is brought up, and how hard infrastructure errors are retried."""

    snapshots: bool = False
    kvm_mode: str | None = None
    local_image: Path | None = None
    local_modules: Path | None = None
    # A case that hits an infrastructure error runs again in a fresh L1 (it may have wedged
    # the old one: a vCPU stuck in KVM_RUN ignores even SIGKILL), up to this many times.
    # Failed checks are never retried: a flaky kernel must show as flaky.
    retries: int = 1
    # Where machine profiles are read from, and images to use instead of building them from
    # the kernel profile: `rerun` points these at a bundle's copies and cached images.
    machines_dir: Path = MACHINES_DIR
    image_set: ImageSet | None = None
    # --tree/--series for source kernel profiles
    overrides: SourceOverrides = NO_OVERRIDES


def _kernel_version(images: ImageSet, l1: L1Machine) -> KernelVersion:
    # Debian's `uname -r` (6.1.0-41-arm64) hides the patch level; the package version has it.
    if images.kernel_package_version:
        try:
            return KernelVersion.parse(images.kernel_package_version)
        except UsageError:
            pass
    return KernelVersion.parse(l1.facts().kernel_release)


@dataclass
class _Attempts:
    """Infrastructure errors seen so far, per case name."""

    retries: int
    errors: dict[str, int]

    def may_retry(self, case: Case) -> bool:
        return self.errors.get(case.name, 0) < self.retries

    def record(self, case: Case) -> None:
        self.errors[case.name] = self.errors.get(case.name, 0) + 1


def _run_in_one_l1(cases: list[Case], images: ImageSet, profile: MachineProfile,
                   group_dir: Path, options: RunOptions, attempts: _Attempts,
                   progress: Progress) -> list[CaseResult]:
    """Run cases until one hits an infrastructure error (then L1 is suspect: stop). That
    case is left out of the results, to run again in a fresh L1, while it has retries left."""
    results: list[CaseResult] = []
    with L1Machine(images, profile, group_dir, kvm_mode=options.kvm_mode,
                   snapshots=options.snapshots) as l1:
        env = Environment(l1.ssh, pmu_model(profile), _kernel_version(images, l1), group_dir,
                          images.kernel_revision)
        source = BundleSource(images, options.machines_dir, profile.name, l1.kvm_mode,
                              options.local_image, options.local_modules, l1.run_dir)
        runner = CaseRunner()
        for case in cases:
            result = runner.run(case, env)
            if result.outcome is Outcome.ERROR and attempts.may_retry(case):
                attempts.record(case)
                print(f"  RETRY        {case.name} in a fresh L1: {result.reason[:200]}",
                      file=sys.stderr, flush=True)
                break
            result = _with_bundle(result, source, group_dir.parent / "bundles")
            results.append(result)
            progress(result)
            if result.outcome is Outcome.ERROR:
                break
    return results


def _with_bundle(result: CaseResult, source: BundleSource, bundles_dir: Path) -> CaseResult:
    if not result.needs_bundle:
        return result
    try:
        return replace(result, bundle=write_bundle(result, source, bundles_dir))
    except OSError as exc:
        # The verdict stands without its reproducer; say so rather than lose the verdict.
        print(f"  (no bundle for {result.case.name}: {exc})", file=sys.stderr, flush=True)
        return result


def _boot_failure(pending: list[Case], attempts: _Attempts, exc: InfraError) -> None:
    """An L1 that would not come up counts against the first case waiting for it."""
    if not pending or not attempts.may_retry(pending[0]):
        raise exc
    attempts.record(pending[0])
    print(f"  RETRY        L1 for {pending[0].name}: {str(exc).splitlines()[0][:200]}",
          file=sys.stderr, flush=True)


def run_group(group: Group, run_dir: Path, options: RunOptions,
              progress: Progress) -> list[CaseResult]:
    """Every case of the group, in one L1 while it holds up, in fresh ones when it does not."""
    group_dir = group.directory(run_dir)
    group_dir.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    pending = list(group.cases)
    attempts = _Attempts(max(options.retries, 0), {})
    try:
        profile = load_machine_profile(group.machine, options.machines_dir)
        images = options.image_set or build_image_set(
            group.kernel, local_image=options.local_image, local_modules=options.local_modules,
            progress=sys.stderr.isatty(), overrides=options.overrides)
        while pending:
            try:
                done = _run_in_one_l1(pending, images, profile, group_dir, options,
                                      attempts, progress)
            except InfraError as exc:
                _boot_failure(pending, attempts, exc)
                continue
            results += done
            pending = pending[len(done):]
    except InfraError as exc:
        rest = Group(group.machine, group.kernel, tuple(pending))
        for result in group_error(rest, exc, group_dir):
            results.append(result)
            progress(result)
    return results
