"""``pmu-harness run``: scenarios x machines x kernels x modes -> verdict table + exit code.

Exit codes (for CI and ``git bisect run``): 0 every case passed (skips allowed), 1 a check
failed, 2 bad scenario or usage, 125 an infrastructure error or an inconclusive result
(neither says anything about the kernel, so bisect must skip).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths, write_each
from harness.cliargs import add_source_kernel_arguments, whole_number
from harness.errors import InfraError, UsageError
from harness.formats import junit, ktap
from harness.htmlreport import write_html
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.paths import SCENARIOS_DIR, new_run_dir
from harness.report import final_api_differences, revision_matrix, summary_line, verdict_table
from harness.results import (
    ResultRecord,
    as_records,
    exit_code_without_reports,
    failure_pointers,
    write_results_json,
)
from harness.results import exit_code as outcome_exit_code
from harness.runner import Case, CaseResult, Group, plan
from harness.scenario.discover import load_scenarios, profile_names
from harness.scenario.model import MODES
from harness.shard import in_shard, parse_shard
from harness.suite import SuiteRun, load_suite

DEFAULT_KERNELS = ("debian-6.1",)
DEFAULT_MACHINES = ("max",)
DEFAULT_MODES = ("probe",)


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run scenarios on real kernels and judge them")
    run.add_argument("paths", nargs="*", type=Path, metavar="SCENARIO|DIR",
                     help=f"scenario files or directories (default: {SCENARIOS_DIR})")
    run.add_argument("--kernel", action="append", metavar="K",
                     help=f"kernel profile (repeatable; default {DEFAULT_KERNELS[0]})")
    run.add_argument("--machine", action="append", metavar="M",
                     help=f"machine profile (repeatable; default {DEFAULT_MACHINES[0]})")
    run.add_argument("--mode", action="append", choices=MODES,
                     help="L2 mode (repeatable; default probe)")
    run.add_argument("--tag", action="append", default=[],
                     help="only scenarios with this tag (repeatable: all must match)")
    run.add_argument("--kernel-image", type=Path, metavar="PATH",
                     help="arm64 Image for the `local` kernel profile")
    run.add_argument("--kernel-modules", type=Path, metavar="DIR",
                     help="modules tree (lib/modules/<release>) for --kernel-image, when its "
                          "virtio-net is not built in")
    add_source_kernel_arguments(run)
    run.add_argument("--nvhe", action="store_true", help="boot L1's KVM in nVHE mode")
    run.add_argument("--snapshots", action="store_true",
                     help="restore L1 from a saved booted state instead of booting cold "
                          "(faster; off by default: nested KVM hangs in some restored L1s)")
    run.add_argument("--suite", metavar="NAME",
                     help="run a suite from configs/suites (instead of paths/kernels/machines)")
    run.add_argument("--shard", metavar="I/N",
                     help="run only the I-th of N deterministic slices of the matrix")
    run.add_argument("-j", "--jobs", type=whole_number(1), metavar="N",
                     help="run up to N L1 machines at once (default: one per core, as far "
                          "as memory allows)")
    run.add_argument("--retries", type=whole_number(0), default=1, metavar="N",
                     help="re-run a case that hit an infrastructure error up to N times in a "
                          "fresh L1 (default 1); failed checks are never re-run")
    run.add_argument("--json", type=Path, metavar="FILE", help="write results as JSON")
    run.add_argument("--html", type=Path, metavar="FILE",
                     help="write the matrix (scenarios x machine/kernel) as one HTML page, "
                          "each cell linked to its artefacts")
    run.add_argument("--junit", type=Path, metavar="FILE", help="write results as JUnit XML")
    run.add_argument("--ktap", action="store_true",
                     help="print KTAP (with a `# Totals:` line) instead of the table")
    run.add_argument("--skips", action="store_true", help="show skipped cases in the table")
    run.add_argument("--bisect", action="store_true",
                     help="for `git bisect run`: exit 128 (abort the bisect) on a usage "
                          "error instead of 2, which bisect would take for a bad commit")
    run.set_defaults(func=run_command)


def _check_names(kind: str, names: list[str]) -> None:
    known = profile_names(kind)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown {kind[:-1]} profile(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")


def _progress(result: CaseResult) -> None:
    print(f"  {result.outcome.value.upper():<12} {result.case.name}  ({result.seconds:.1f} s)",
          file=sys.stderr, flush=True)


def exit_code(results: list[CaseResult]) -> int:
    return outcome_exit_code(r.outcome for r in results)


def _selections(args: argparse.Namespace) -> list[SuiteRun]:
    """What to run: the suite's runs, or one run from the command line."""
    if args.suite:
        if args.paths or args.kernel or args.machine or args.mode or args.tag:
            raise UsageError("--suite chooses scenarios, kernels, machines and modes itself; "
                             "drop the paths, --kernel, --machine, --mode and --tag")
        return list(load_suite(args.suite).runs)
    return [SuiteRun(tuple(args.paths or [SCENARIOS_DIR]), tuple(args.tag),
                     tuple(args.kernel or DEFAULT_KERNELS),
                     tuple(args.machine or DEFAULT_MACHINES),
                     tuple(args.mode or DEFAULT_MODES))]


def _plan(args: argparse.Namespace) -> tuple[list[Group], list[CaseResult]]:
    """Every selection planned, cases of the same kernel x machine sharing one L1."""
    cases: dict[tuple[str, str], list[Case]] = {}
    skipped: list[CaseResult] = []
    shard = parse_shard(args.shard) if args.shard else None
    for selection in _selections(args):
        _check_names("kernels", list(selection.kernels))
        _check_names("machines", list(selection.machines))
        scenarios = [s for s in load_scenarios(list(selection.scenarios))
                     if set(selection.tags) <= set(s.tags)]
        groups, skips = plan(scenarios, selection.machines, selection.kernels,
                             selection.modes)
        skipped += skips
        for group in groups:
            wanted = [c for c in group.cases
                      if shard is None or in_shard(c.name, *shard)]
            known = cases.setdefault((group.kernel, group.machine), [])
            known += [c for c in wanted if c not in known]
    groups = [Group(m, k, tuple(c)) for (k, m), c in cases.items() if c]
    return groups, skipped


def check_local_kernel(args: argparse.Namespace) -> None:
    """``--kernel-image`` given and present (``rerun`` checks it the same way)."""
    if args.kernel_image is None:
        raise UsageError("--kernel local needs --kernel-image PATH")
    if not args.kernel_image.is_file():
        # In a bisect the usual reason is a commit that does not build: skip it (125),
        # never call it bad.
        raise InfraError(f"--kernel-image {args.kernel_image}: no such file (did the kernel "
                         "build fail?)")


def source_overrides(args: argparse.Namespace) -> SourceOverrides:
    return SourceOverrides(tree=args.tree, series=tuple(args.series or ()))


def prebuild_source_kernels(groups: Sequence[Group], overrides: SourceOverrides) -> None:
    """Build every source kernel of the run before any L1 starts: a series that does not
    apply is exit 2 and a compile error exit 125 for the whole run, found in minutes rather
    than inside a worker with a deadline; the workers then find the images in the cache."""
    from harness.images import build_image_set
    from harness.images.profiles import load_profile

    kernels = sorted({g.kernel for g in groups})
    source = [k for k in kernels if load_profile(k).kind == "source"]
    if overrides != NO_OVERRIDES and not source:
        raise UsageError("--tree/--series apply to source kernel profiles; none is selected")
    for kernel in source:
        build_image_set(kernel, overrides=overrides, progress=True)


def run_command(args: argparse.Namespace) -> int:
    # These boot machines: imported only when running, so `--help` and bad input stay fast.
    from harness.parallel import default_jobs, run_groups
    from harness.session import RunOptions

    groups, results = _plan(args)
    if any(g.kernel == "local" for g in groups):
        check_local_kernel(args)
    check_output_paths([args.json, args.junit, args.html])
    overrides = source_overrides(args)
    prebuild_source_kernels(groups, overrides)
    options = RunOptions(snapshots=args.snapshots, kvm_mode="nvhe" if args.nvhe else None,
                         local_image=args.kernel_image, local_modules=args.kernel_modules,
                         retries=args.retries, overrides=overrides)
    jobs = args.jobs or default_jobs()
    run_dir = new_run_dir("run")
    print(f"pmu-harness: {sum(len(g.cases) for g in groups)} case(s) on {len(groups)} L1 "
          f"machine(s), up to {jobs} at once; artefacts in {run_dir}", file=sys.stderr)
    start = time.monotonic()
    results += run_groups(groups, run_dir, options, jobs, _progress)
    table = verdict_table(results, include_skips=args.skips)
    matrix = revision_matrix(results)
    if matrix:
        table += ("\n\nrevisions (each against its own prediction; \"differs from\": the "
                  "final API predicts otherwise):\n" + matrix)
        table += "".join(f"\n  {line}" for line in final_api_differences(results))
    if args.ktap:
        print(table, file=sys.stderr)
        print(ktap(results), end="")
    else:
        print(table)
    meta = {"suite": args.suite, "shard": args.shard, "jobs": jobs, "run_dir": str(run_dir),
            "groups": [f"{g.kernel}/{g.machine}" for g in groups],
            "seconds": round(time.monotonic() - start, 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    records = as_records(results)
    code = exit_code(results)
    for failure in _write_reports(args, records, run_dir, meta):
        print(f"pmu-harness: infrastructure error: a report could not be written: {failure}",
              file=sys.stderr)
        code = exit_code_without_reports(code)
    for pointer in failure_pointers(records):
        print(pointer, file=sys.stderr)
    for result in results:
        if result.bundle is not None:
            print(f"rerun: pmu-harness rerun {result.bundle}", file=sys.stderr)
    print(summary_line(results) + f" ({meta['seconds']} s; {run_dir})",
          file=sys.stderr if args.ktap else sys.stdout)
    return code


def _write_reports(args: argparse.Namespace, records: list[ResultRecord], run_dir: Path,
                   meta: dict[str, Any]) -> list[str]:
    """The run directory's results.json and report.html, and the reports asked for; what
    could not be written. Each is written whole or not at all, and one that fails (a full
    results disk) does not keep the others (elsewhere) from being written."""
    writers: list[tuple[Path | None, Callable[[Path], None]]] = [
        (run_dir / "results.json", lambda path: write_results_json(records, path, meta)),
        (args.json, lambda path: write_results_json(records, path, meta)),
        (args.junit, lambda path: junit(records, path)),
        (run_dir / "report.html", lambda path: write_html(records, path, meta)),
        (args.html, lambda path: write_html(records, path, meta)),
    ]
    return write_each(writers)
