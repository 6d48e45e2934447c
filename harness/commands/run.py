"""``pmu-harness run``: scenarios x machines x kernels x modes -> verdict table + exit code.

Exit codes (for CI and ``git bisect run``): 0 every case passed (skips allowed), 1 a check
failed, 2 bad scenario or usage, 125 an infrastructure error or an inconclusive result
(neither says anything about the kernel, so bisect must skip).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cliargs import (
    add_bisect_argument,
    add_local_kernel_arguments,
    add_report_arguments,
    add_source_kernel_arguments,
    report_request,
    source_overrides,
    whole_number,
)
from harness.modes import DEFAULT_MODES, MODES
from harness.paths import SCENARIOS_DIR, new_run_dir
from harness.plan import DEFAULT_KERNELS, DEFAULT_MACHINES, Request, RunOptions, make_plan
from harness.reports import emit
from harness.reports.table import progress_line
from harness.results import CaseResult
from harness.shard import CI_INDEX, CI_TOTAL, Shard, choose_shard


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run scenarios on real kernels and judge them")
    run.add_argument("paths", nargs="*", type=Path, metavar="SCENARIO|DIR",
                     help=f"scenario files or directories (default: {SCENARIOS_DIR})")
    run.add_argument("--kernel", action="append", metavar="K",
                     help=f"kernel profile (repeatable; default {DEFAULT_KERNELS[0]})")
    run.add_argument("--machine", action="append", metavar="M",
                     help=f"machine profile (repeatable; default {DEFAULT_MACHINES[0]})")
    run.add_argument("--mode", action="append", choices=MODES,
                     help=f"L2 mode (repeatable; default {DEFAULT_MODES[0]})")
    run.add_argument("--tag", action="append", default=[],
                     help="only scenarios with this tag (repeatable: all must match)")
    add_local_kernel_arguments(run)
    add_source_kernel_arguments(run)
    run.add_argument("--nvhe", action="store_true", help="boot L1's KVM in nVHE mode")
    run.add_argument("--no-snapshots", dest="snapshots", action="store_false",
                     help="boot every L1 cold instead of restoring a saved booted L1 (the "
                          "default restores one, ~1 s, and saves one after a cold boot: "
                          "~400 MB per kernel x machine in the cache)")
    run.add_argument("--suite", metavar="NAME",
                     help="run a suite from configs/suites (instead of paths, modes and "
                          "tags); --kernel and --machine, when given, replace the suite's")
    run.add_argument("--shard", metavar="I/N",
                     help="run only the I-th of N deterministic slices of the matrix "
                          f"(default: GitLab's {CI_INDEX}/{CI_TOTAL} when set)")
    run.add_argument("-j", "--jobs", type=whole_number(1), metavar="N",
                     help="run up to N L1 machines at once (default: one per core, as far "
                          "as memory allows)")
    run.add_argument("--retries", type=whole_number(0), default=1, metavar="N",
                     help="re-run a case that hit an infrastructure error up to N times in a "
                          "fresh L1 (default 1); failed checks are never re-run")
    run.add_argument("--own-controls", action="store_true",
                     help="run every case's unfiltered control itself (by default, cases in "
                          "one L1 whose controls would be the same run share one)")
    add_report_arguments(run)
    add_bisect_argument(run)
    run.set_defaults(func=run_command)


def _progress(result: CaseResult) -> None:
    print(progress_line(result), file=sys.stderr, flush=True)


def request_from(args: argparse.Namespace, shard: Shard | None = None) -> Request:
    """The run the command line asks for (checked by ``make_plan``), in ``shard``."""
    options = RunOptions(snapshots=args.snapshots, kvm_mode="nvhe" if args.nvhe else None,
                         local_image=args.kernel_image, local_modules=args.kernel_modules,
                         retries=args.retries, share_controls=not args.own_controls,
                         overrides=source_overrides(args))
    return Request(paths=tuple(args.paths), kernels=tuple(args.kernel or ()),
                   machines=tuple(args.machine or ()), modes=tuple(args.mode or ()),
                   tags=tuple(args.tag), suite=args.suite, shard=shard.text if shard else None,
                   options=options)


def run_command(args: argparse.Namespace) -> int:
    # These boot machines: imported only when running, so `--help` and bad input stay fast.
    from harness.execute.pool import default_jobs, run_groups
    from harness.execute.prebuild import prebuild_source_kernels, source_predictions

    shard = choose_shard(args.shard, os.environ)
    plan = make_plan(request_from(args, shard))
    request = report_request(args)
    request.check()
    prebuild_source_kernels(plan)
    predictions = source_predictions(plan)
    jobs = args.jobs or default_jobs()
    run_dir = new_run_dir("run")
    if shard is not None:
        print(f"pmu-harness: shard {shard.text} ({shard.source})", file=sys.stderr)
    print(f"pmu-harness: {plan.case_count} case(s) on {len(plan.groups)} L1 machine(s), up to "
          f"{jobs} at once; artefacts in {run_dir}", file=sys.stderr)
    for kernel, prediction in predictions.items():
        print(f"pmu-harness: {kernel} is predicted by {prediction}", file=sys.stderr)
    start = time.monotonic()
    results = list(plan.skipped)
    results += run_groups(plan.groups, run_dir, plan.options, jobs, _progress)
    meta: dict[str, Any] = {
        "suite": args.suite, "shard": shard.text if shard else None, "jobs": jobs,
        "run_dir": str(run_dir),
        "groups": [f"{g.kernel}/{g.machine}" for g in plan.groups],
        "predictions": predictions,
        "seconds": round(time.monotonic() - start, 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    return emit(results, meta, replace(request, run_dir=run_dir),
                summary_suffix=f" ({meta['seconds']} s; {run_dir})")
