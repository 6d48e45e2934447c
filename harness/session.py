"""Bring up one L1 per group and run its cases: the only place images, L1 and L2 meet."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.images import ImageSet, build_image_set
from harness.kernelrules import KernelVersion
from harness.machine import L1Machine, load_machine_profile
from harness.machine.profile import MachineProfile
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
# A case's infrastructure error may have wedged L1 (a vCPU stuck in KVM_RUN ignores even
# SIGKILL): the remaining cases get a fresh L1, but only this many times per group.
L1_RESTARTS = 1


def _kernel_version(images: ImageSet, l1: L1Machine) -> KernelVersion:
    # Debian's `uname -r` (6.1.0-41-arm64) hides the patch level; the package version has it.
    if images.kernel_package_version:
        try:
            return KernelVersion.parse(images.kernel_package_version)
        except UsageError:
            pass
    return KernelVersion.parse(l1.facts().kernel_release)


def _run_in_one_l1(cases: list[Case], images: ImageSet, profile: MachineProfile,
                   group_dir: Path, *, kvm_mode: str | None, snapshots: bool,
                   last_chance: bool, progress: Progress) -> list[CaseResult]:
    """Run cases until one hits an infrastructure error (then L1 is suspect: stop). That
    case is left out of the results, to run again in a fresh L1, unless this L1 was the
    last chance. Test failures are never retried."""
    results: list[CaseResult] = []
    with L1Machine(images, profile, group_dir, kvm_mode=kvm_mode, snapshots=snapshots) as l1:
        env = Environment(l1.ssh, pmu_model(profile), _kernel_version(images, l1), group_dir)
        runner = CaseRunner()
        for case in cases:
            result = runner.run(case, env)
            if result.outcome is Outcome.ERROR and not last_chance:
                print(f"  RETRY        {case.name} in a fresh L1: {result.reason[:200]}",
                      file=sys.stderr, flush=True)
                break
            results.append(result)
            progress(result)
            if result.outcome is Outcome.ERROR:
                break
    return results


def run_group(group: Group, run_dir: Path, *, snapshots: bool, kvm_mode: str | None,
              local_image: Path | None, local_modules: Path | None = None,
              progress: Progress) -> list[CaseResult]:
    group_dir = run_dir / f"{group.kernel}-{group.machine}"
    group_dir.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    pending = list(group.cases)
    try:
        profile = load_machine_profile(group.machine)
        images = build_image_set(group.kernel, local_image=local_image,
                                 local_modules=local_modules, progress=sys.stderr.isatty())
        for attempt in range(1 + L1_RESTARTS):
            done = _run_in_one_l1(pending, images, profile, group_dir, kvm_mode=kvm_mode,
                                  snapshots=snapshots, last_chance=attempt == L1_RESTARTS,
                                  progress=progress)
            results += done
            pending = pending[len(done):]
            if not pending:
                break
        if pending:
            raise InfraError(f"L1 failed {1 + L1_RESTARTS} times; the remaining cases were "
                             "not run", log_path=group_dir)
    except InfraError as exc:
        rest = Group(group.machine, group.kernel, tuple(pending))
        for result in group_error(rest, exc, group_dir):
            results.append(result)
            progress(result)
    return results
