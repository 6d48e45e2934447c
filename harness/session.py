"""Bring up one L1 per group and run its cases: the only place images, L1 and L2 meet."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from harness.errors import InfraError, UsageError
from harness.images import ImageSet, build_image_set
from harness.kernelrules import KernelVersion
from harness.machine import L1Machine, load_machine_profile
from harness.runner import CaseResult, CaseRunner, Environment, Group, group_error, pmu_model

Progress = Callable[[CaseResult], None]


def _kernel_version(images: ImageSet, l1: L1Machine) -> KernelVersion:
    # Debian's `uname -r` (6.1.0-41-arm64) hides the patch level; the package version has it.
    if images.kernel_package_version:
        try:
            return KernelVersion.parse(images.kernel_package_version)
        except UsageError:
            pass
    return KernelVersion.parse(l1.facts().kernel_release)


def run_group(group: Group, run_dir: Path, *, snapshots: bool, kvm_mode: str | None,
              local_image: Path | None, progress: Progress) -> list[CaseResult]:
    group_dir = run_dir / f"{group.kernel}-{group.machine}"
    group_dir.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    try:
        profile = load_machine_profile(group.machine)
        images = build_image_set(group.kernel, local_image=local_image,
                                 progress=sys.stderr.isatty())
        with L1Machine(images, profile, group_dir, kvm_mode=kvm_mode,
                       snapshots=snapshots) as l1:
            env = Environment(l1.ssh, pmu_model(profile), _kernel_version(images, l1),
                              group_dir)
            runner = CaseRunner()
            for case in group.cases:
                result = runner.run(case, env)
                results.append(result)
                progress(result)
    except InfraError as exc:
        done = {r.case for r in results}
        rest = Group(group.machine, group.kernel,
                     tuple(c for c in group.cases if c not in done))
        for result in group_error(rest, exc, group_dir):
            results.append(result)
            progress(result)
    return results
