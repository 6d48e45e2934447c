"""``pmu-harness rerun BUNDLE``: run exactly the case a reproducer bundle describes, again.

Same scenario file, machine profile, KVM mode and kernel images (found in the cache by key,
or rebuilt and checked against the bundle's hashes). Exit codes are ``run``'s, so a rerun
can drive ``git bisect run`` too (with ``--kernel-image`` pointing at each build).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.bundle import Bundle, bundle_l2, read_bundle
from harness.cliargs import add_bisect_argument, add_report_arguments, report_request, whole_number
from harness.errors import InfraError, UsageError
from harness.images import ImageSet
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.modes import LINUX_MODE
from harness.paths import new_run_dir
from harness.plan import LOCAL_KERNEL, Case, RunOptions, check_local_kernel, single_case_plan
from harness.reports import emit
from harness.results import CaseResult
from harness.scenario.discover import load_scenario


def register(subparsers: Any) -> None:
    rerun = subparsers.add_parser("rerun", help="re-run the case of a reproducer bundle")
    rerun.add_argument("bundle", type=Path, metavar="BUNDLE",
                       help="a bundle directory (printed by `run` for every case that did "
                            "not pass) or its bundle.json")
    rerun.add_argument("--kernel-image", type=Path, metavar="PATH",
                       help="run on this arm64 Image instead of the bundle's kernel "
                            "(e.g. each step of a bisect)")
    rerun.add_argument("--kernel-modules", type=Path, metavar="DIR",
                       help="modules tree for --kernel-image")
    rerun.add_argument("--retries", type=whole_number(0), default=1, metavar="N",
                       help="re-run after an infrastructure error up to N times (default 1)")
    add_report_arguments(rerun)
    add_bisect_argument(rerun)
    rerun.set_defaults(func=rerun_command)


def _case(bundle: Bundle) -> Case:
    wanted = bundle.case
    scenario = load_scenario(bundle.scenario_file, wanted["scenario"])
    return Case(scenario, wanted["machine"], wanted["kernel"], wanted["mode"])


def _cached_images(cache_key: str) -> ImageSet | None:
    from harness.images import list_image_sets, verify_image_set

    for image_set in list_image_sets():
        if image_set.cache_key == cache_key and not verify_image_set(image_set):
            return image_set
    return None


def refuse_bundle_host_paths(kernel: dict[str, Any]) -> None:
    """A bundle names the local Image it ran on by the path it had on the machine that made
    the bundle. That path is a record, never opened: from a bundle it could name any file
    here. Rebuilding such a case takes the image from the user (``--kernel-image``)."""
    if kernel.get("local_image") is not None or kernel.get("local_modules") is not None:
        raise UsageError(
            "the bundle ran on a local kernel image that is no longer in the image cache; "
            "pass --kernel-image PATH (paths recorded in a bundle are not opened)")


def _bundle_build(bundle: Bundle) -> SourceOverrides:
    """A source kernel is rebuilt from the series and fragments copied into the bundle
    (then its Image's SHA-256 must match); other kernels need no overrides."""
    if "build" not in bundle.kernel:
        return NO_OVERRIDES
    inputs = bundle.build_inputs()
    if inputs is None:
        raise UsageError(f"{bundle.directory}: the bundle's kernel was built from source but "
                         "its copies of the series and fragments (kernel/) are missing")
    tree = bundle.kernel["build"].get("tree", {})
    if isinstance(tree, dict) and "directory" in tree:
        raise UsageError("the bundle's kernel was built from a user's tree (--tree), which "
                         "a bundle does not hold; rebuild it and pass --kernel-image")
    print(f"pmu-harness: rebuilding {bundle.kernel['profile']} from the bundle's series",
          file=sys.stderr)
    return SourceOverrides(series_only=inputs[0], fragments_only=inputs[1])


def _bundle_images(bundle: Bundle) -> ImageSet:
    """The very images the bundle ran on: from the cache, or rebuilt with the same hash."""
    from harness.images import build_image_set

    kernel = bundle.kernel
    cached = _cached_images(kernel["cache_key"])
    if cached is not None:
        return cached
    refuse_bundle_host_paths(kernel)
    rebuilt = build_image_set(kernel["profile"], progress=sys.stderr.isatty(),
                              overrides=_bundle_build(bundle))
    if rebuilt.kernel_sha256 != kernel["image_sha256"]:
        raise InfraError(
            f"cannot re-run exactly: the bundle ran on {kernel.get('package')} "
            f"{kernel.get('version')} (Image sha256 {kernel['image_sha256'][:16]}), but "
            f"{kernel['profile']} now gives {rebuilt.kernel_package} "
            f"{rebuilt.kernel_package_version} (sha256 {rebuilt.kernel_sha256[:16]}); "
            "pass --kernel-image to run on another kernel on purpose")
    return rebuilt


def _images(bundle: Bundle, options: RunOptions) -> ImageSet:
    if options.local_image is None:
        return _bundle_images(bundle)
    from harness.images import build_image_set

    check_local_kernel(options)
    print(f"pmu-harness: running on {options.local_image}, not on the bundle's kernel",
          file=sys.stderr)
    return build_image_set(LOCAL_KERNEL, local_image=options.local_image,
                           local_modules=options.local_modules, progress=sys.stderr.isatty())


def compare(bundle: Bundle, result: CaseResult) -> str:
    """Whether the rerun reproduced the bundle's outcome, with the same failed checks."""
    failed_now = sorted(c.name for c in result.checks if c.outcome.value != "pass")
    if result.outcome.value != bundle.outcome:
        return f"not reproduced: was {bundle.outcome}, now {result.outcome.value}"
    if failed_now != bundle.failed_checks:
        return (f"reproduced {bundle.outcome}, but other checks: was "
                f"{', '.join(bundle.failed_checks) or 'none'}, now "
                f"{', '.join(failed_now) or 'none'}")
    return f"reproduced: {bundle.outcome} again ({', '.join(failed_now) or 'same reason'})"


def _quiet(result: CaseResult) -> None:
    """Progress of the rerun's one case: the table after it says everything."""


def rerun_command(args: argparse.Namespace) -> int:
    from harness.execute.pool import run_groups

    request = report_request(args)
    request.check()
    bundle = read_bundle(args.bundle)
    case = _case(bundle)
    local = args.kernel_image is not None
    options = RunOptions(kvm_mode=bundle.data.get("options", {}).get("kvm_mode"),
                         retries=args.retries, machines_dir=bundle.machines_dir,
                         local_image=args.kernel_image,
                         local_modules=args.kernel_modules if local else None,
                         l2=bundle_l2(bundle.data))
    images = _images(bundle, options)
    if local:
        case = replace(case, kernel=LOCAL_KERNEL)
    plan = single_case_plan(case, replace(options, image_set=images))
    run_dir = new_run_dir("rerun")
    l2 = f", {options.l2.describe()}" if case.mode == LINUX_MODE else ""
    print(f"pmu-harness: re-running {case.name} from {bundle.directory} on "
          f"{images.summary()}{l2}; artefacts in {run_dir}", file=sys.stderr)
    # In a worker, like `run`: only a process can be stopped wherever it is stuck, so only
    # a worker gives the rerun an overall deadline.
    results = run_groups(plan.groups, run_dir, plan.options, 1, _quiet).unless_interrupted()
    notes = [] if local else [compare(bundle, r) for r in results]
    meta = {"bundle": str(bundle.directory), "run_dir": str(run_dir)}
    return emit(results, meta, replace(request, run_dir=run_dir), notes=notes,
                summary_suffix=f" ({run_dir})")
