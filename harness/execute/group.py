"""One group: bring up an L1 for a kernel x machine and run its cases in it, in fresh ones
when it does not hold up. The only place images, L1 and L2 meet.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from harness.bundle import BundleSource, write_bundle
from harness.errors import InfraError, UsageError
from harness.execute import leaks
from harness.execute.case import Environment, group_error, pmu_model, run_case
from harness.execute.control import SharedControls
from harness.execute.l2kernel import small_kernel_files
from harness.images import ImageSet, build_image_set
from harness.kernelrules import KernelVersion
from harness.l2.guest import L2Session, SmallKernelFiles
from harness.l2.remote import Remote
from harness.machine import L1Machine, load_machine_profile
from harness.machine.facts import L1Facts
from harness.machine.profile import MachineProfile
from harness.plan import Case, Group, RunOptions
from harness.results import CaseResult, ErrorClass, Outcome, class_of_exception

log = logging.getLogger(__name__)

Progress = Callable[[CaseResult], None]


class BootedL1(Protocol):
    """What a group needs of a running L1 (``L1Machine``; a fake one in unit tests)."""

    @property
    def ssh(self) -> Remote: ...
    @property
    def kvm_mode(self) -> str: ...
    @property
    def run_dir(self) -> Path: ...
    @property
    def console_log(self) -> Path | None: ...
    def facts(self) -> L1Facts: ...


BootL1 = Callable[[ImageSet, MachineProfile, Path, RunOptions],
                  AbstractContextManager[BootedL1]]
"""Brings an L1 up for a group's directory; leaving the context shuts it down."""


def boot_l1(images: ImageSet, profile: MachineProfile, group_dir: Path, options: RunOptions
            ) -> AbstractContextManager[BootedL1]:
    return L1Machine(images, profile, group_dir, kvm_mode=options.kvm_mode,
                     snapshots=options.snapshots, before_save=(leaks.SAVE_STEP,))


@dataclass
class RetryPolicy:
    """How often a case may meet an infrastructure error before its error stands: each
    one sends it to a fresh L1 (the old one may be wedged: a vCPU stuck in KVM_RUN ignores
    even SIGKILL). An L1 that does not boot counts against the first case waiting for it.
    Failed checks are never retried: a flaky kernel must show as flaky."""

    retries: int
    errors: dict[str, int] = field(default_factory=dict)

    def may_retry(self, case: Case) -> bool:
        return self.errors.get(case.name, 0) < self.retries

    def record(self, case: Case) -> None:
        self.errors[case.name] = self.errors.get(case.name, 0) + 1


def _kernel_version(images: ImageSet, l1: BootedL1) -> KernelVersion:
    # Debian's `uname -r` (6.1.0-41-arm64) hides the patch level; the package version has it.
    if images.kernel_package_version:
        try:
            return KernelVersion.parse(images.kernel_package_version)
        except UsageError:
            pass
    return KernelVersion.parse(l1.facts().kernel_release)


def prediction_source(images: ImageSet, version: KernelVersion) -> str:
    """What the oracle's prediction for this kernel rests on, in one line."""
    if images.kernel_prediction:
        return f"{images.kernel_profile}: {images.kernel_prediction}"
    return (f"{images.kernel_profile}: {images.kernel_package} "
            f"{images.kernel_package_version}: the version rules of Linux {version}")


@dataclass(frozen=True)
class _GroupRun:
    """What every L1 of one group is brought up with."""

    images: ImageSet
    profile: MachineProfile
    group_dir: Path
    options: RunOptions
    boot: BootL1
    small_l2_kernel: SmallKernelFiles | None = None


def _run_in_one_l1(cases: list[Case], run: _GroupRun, retry: RetryPolicy,
                   progress: Progress, results: list[CaseResult]) -> None:
    """Run cases until one hits an infrastructure error (then L1 is suspect: stop) or leaves
    L1's debug checks off (a KASAN or lockdep report: the next case needs a fresh L1 to be
    judged by a kernel with its checks on), each result appended to ``results`` as it comes
    (so whatever happens later, the finished cases keep theirs). The case that hit the error
    is left out, to run again in a fresh L1, while it has retries left. On a kernel with
    kmemleak, the last case this L1 ran also carries the leak scan made after it."""
    images, profile, group_dir, options = run.images, run.profile, run.group_dir, run.options
    with run.boot(images, profile, group_dir, options) as l1:
        version = _kernel_version(images, l1)
        env = Environment(l1.ssh, pmu_model(profile), version, group_dir,
                          images.kernel_revision, prediction_source(images, version),
                          l1.console_log, SharedControls(share=options.share_controls),
                          L2Session(options.l2, run.small_l2_kernel))
        source = BundleSource(images, options.machines_dir, profile.name, l1.kvm_mode,
                              options.local_image, options.local_modules, l1.run_dir,
                              options.l2)
        bundles = group_dir.parent / "bundles"

        def finish(case: Case, result: CaseResult) -> None:
            result = _with_bundle(case, result, source, bundles)
            results.append(result)
            progress(result)

        watch = leaks.prepare(l1.ssh)
        held: tuple[Case, CaseResult] | None = None  # the latest, until the next or the scan
        try:
            for case in cases:
                result = run_case(case, env)
                if result.outcome is Outcome.ERROR and retry.may_retry(case):
                    retry.record(case)
                    log.warning("  RETRY        %s in a fresh L1: %s", case.name,
                                result.reason[:200])
                    break
                if held is not None:
                    finish(*held)
                held = case, result
                if result.outcome is Outcome.ERROR:
                    break
                if result.l1_checks_off:  # its progress line says so
                    break
            # After a splat that turned the checkers off the case has failed already, and
            # a scan would walk memory KASAN just found corrupt: the leak scan is skipped.
            if held is not None and watch is not None and not held[1].l1_checks_off:
                held = held[0], _leak_scanned(*held, watch)
        finally:
            if held is not None:
                finish(*held)


def _leak_scanned(case: Case, result: CaseResult, watch: leaks.LeakWatch) -> CaseResult:
    """The last case of an L1 with the kmemleak scan made after it; a scan that fails
    leaves that case without a verdict (an infrastructure error), never a silent pass."""
    case_dir = Path(result.artefacts) if result.artefacts else None
    try:
        if case_dir is None:
            raise InfraError("the case has no artefacts directory to keep the scan in")
        scanned = leaks.with_leak_check(result, leaks.leak_check(watch, case_dir))
    except InfraError as exc:
        scanned = replace(case.result(Outcome.ERROR, f"infrastructure: {exc}",
                                      class_of_exception(exc)),
                          artefacts=result.artefacts, seconds=result.seconds,
                          kernel_version=result.kernel_version, checks=result.checks)
    leaks.rewrite_verdict(scanned)
    return scanned


def _with_bundle(case: Case, result: CaseResult, source: BundleSource, bundles_dir: Path
                 ) -> CaseResult:
    if not result.needs_a_look:
        return result
    try:
        return replace(result, bundle=str(write_bundle(case, result, source, bundles_dir)))
    except OSError as exc:
        # The verdict stands without its reproducer; say so rather than lose the verdict.
        log.warning("  (no bundle for %s: %s)", case.name, exc)
        return result


def _boot_failure(pending: list[Case], retry: RetryPolicy, exc: InfraError) -> None:
    """An L1 that would not come up counts against the first case waiting for it."""
    if not pending or not retry.may_retry(pending[0]):
        raise exc
    retry.record(pending[0])
    log.warning("  RETRY        L1 for %s: %s", pending[0].name,
                str(exc).splitlines()[0][:200])


def _images(group: Group, options: RunOptions) -> ImageSet:
    return options.image_set or build_image_set(
        group.kernel, local_image=options.local_image, local_modules=options.local_modules,
        progress=sys.stderr.isatty(), overrides=options.overrides)


def run_group(group: Group, run_dir: Path, options: RunOptions, progress: Progress,
              boot: BootL1 = boot_l1) -> list[CaseResult]:
    """Every case of the group, in one L1 while it holds up, in fresh ones when it does not.

    Raises nothing but KeyboardInterrupt: the machinery failing is an infrastructure error
    for the cases it touched, a problem with the user's input found only now (the plan
    checked what it could) a configuration error, anything else a harness bug; each with
    the evidence in the group's directory."""
    group_dir = group.directory(run_dir)
    group_dir.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    pending = list(group.cases)
    retry = RetryPolicy(max(options.retries, 0))
    try:
        profile = load_machine_profile(group.machine, options.machines_dir)
        images = _images(group, options)
        run = _GroupRun(images, profile, group_dir, options, boot,
                        small_kernel_files(group, options, images, group_dir))
        while pending:
            before = len(results)
            try:
                _run_in_one_l1(pending, run, retry, progress, results)
            except InfraError as exc:
                if len(results) == before:  # not one case ran: the L1 never came up
                    _boot_failure(pending, retry, exc)
            pending = pending[len(results) - before:]
    except Exception as exc:  # a harness bug must not read as "bad kernel"
        # Its class follows from what was raised (results.class_of_exception).
        failure: Exception = exc
        if class_of_exception(exc) is ErrorClass.HARNESS_BUG:
            log.error("internal error (a harness bug, not a kernel verdict) in %s/%s:",
                      group.kernel, group.machine, exc_info=exc)
    else:
        return results
    rest = replace(group, cases=group.cases[len(results):])
    for result in group_error(rest, failure, group_dir):
        results.append(result)
        progress(result)
    return results
