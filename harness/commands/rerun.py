"""``pmu-harness rerun BUNDLE``: run exactly the case a reproducer bundle describes, again.

Same scenario file, machine profile, KVM mode and kernel images (found in the cache by key,
or rebuilt and checked against the bundle's hashes). Exit codes are ``run``'s, so a rerun
can drive ``git bisect run`` too (with ``--kernel-image`` pointing at each build).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths
from harness.bundle import Bundle, read_bundle
from harness.cliargs import whole_number
from harness.commands.run import check_local_kernel, exit_code
from harness.errors import InfraError, UsageError
from harness.images import ImageSet
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.paths import new_run_dir
from harness.report import summary_line, verdict_table
from harness.results import write_results_json
from harness.runner import Case, CaseResult, Group
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
    rerun.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON")
    rerun.add_argument("--bisect", action="store_true",
                       help="for `git bisect run`: exit 128 (abort the bisect) on a usage "
                            "error instead of 2, which bisect would take for a bad commit")
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


def _images(bundle: Bundle, args: argparse.Namespace) -> ImageSet:
    if args.kernel_image is None:
        return _bundle_images(bundle)
    from harness.images import build_image_set

    check_local_kernel(args)
    print(f"pmu-harness: running on {args.kernel_image}, not on the bundle's kernel",
          file=sys.stderr)
    return build_image_set("local", local_image=args.kernel_image,
                           local_modules=args.kernel_modules, progress=sys.stderr.isatty())


def _compare(bundle: Bundle, result: CaseResult) -> str:
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
    from harness.parallel import run_groups
    from harness.session import RunOptions

    check_output_paths([args.json])
    bundle = read_bundle(args.bundle)
    case = _case(bundle)
    images = _images(bundle, args)
    local = args.kernel_image is not None
    options = RunOptions(kvm_mode=bundle.data.get("options", {}).get("kvm_mode"),
                         retries=args.retries, machines_dir=bundle.machines_dir,
                         image_set=images, local_image=args.kernel_image,
                         local_modules=args.kernel_modules if local else None)
    kernel = "local" if local else case.kernel
    group = Group(case.machine, kernel, (Case(case.scenario, case.machine, kernel, case.mode),))
    run_dir = new_run_dir("rerun")
    print(f"pmu-harness: re-running {case.name} from {bundle.directory} on "
          f"{images.summary()}; artefacts in {run_dir}", file=sys.stderr)
    # In a worker, like `run`: only a process can be stopped wherever it is stuck, so only
    # a worker gives the rerun an overall deadline.
    results = run_groups([group], run_dir, options, 1, _quiet)
    print(verdict_table(results))
    meta = {"bundle": str(bundle.directory), "run_dir": str(run_dir)}
    write_results_json(results, run_dir / "results.json", meta)
    if args.json:
        write_results_json(results, args.json, meta)
    for result in results:
        if not local:
            print(_compare(bundle, result), file=sys.stderr)
        if result.bundle:
            print(f"new bundle: {result.bundle}", file=sys.stderr)
    print(summary_line(results) + f" ({run_dir})")
    return exit_code(results)
