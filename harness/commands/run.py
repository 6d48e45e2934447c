"""``pmu-harness run``: scenarios x machines x kernels x modes -> verdict table + exit code.

Exit codes (for CI and ``git bisect run``): the error classes' (``results.CLASSES``): 0
every case passed (skips allowed, at least one judged), 1 a check failed, 2 bad scenario or
usage, 5 no case was judged (125 under ``--bisect``), 125 an infrastructure error, an
inconclusive result, a case not run (neither says anything about the kernel, so bisect must
skip). Every result is journalled as it arrives (``results/journal.py``); ``--resume``
runs what a cut-off run left without a verdict.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cliargs import (
    add_bisect_argument,
    add_l2_arguments,
    add_local_kernel_arguments,
    add_report_arguments,
    add_source_kernel_arguments,
    l2_settings,
    report_request,
    source_overrides,
    whole_number,
)
from harness.errors import EXIT_INFRA, UsageError
from harness.modes import DEFAULT_MODES, MODES
from harness.paths import SCENARIOS_DIR, new_run_dir
from harness.plan import (
    DEFAULT_KERNELS,
    DEFAULT_MACHINES,
    Group,
    Request,
    RunOptions,
    make_plan,
    restores_l1,
)
from harness.reports import emit
from harness.reports.table import progress_line
from harness.results import CaseResult, Outcome
from harness.results.journal import JOURNAL_FILE, Journal, planned, read_journal
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
    add_l2_arguments(run)
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
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="finish a run that was cut off: run, into RUN_DIR, only its cases "
                          "that have no verdict yet, with the run's own command line")
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
                         overrides=source_overrides(args), l2=l2_settings(args))
    return Request(paths=tuple(args.paths), kernels=tuple(args.kernel or ()),
                   machines=tuple(args.machine or ()), modes=tuple(args.mode or ()),
                   tags=tuple(args.tag), suite=args.suite, shard=shard.text if shard else None,
                   options=options)


def run_command(args: argparse.Namespace) -> int:
    # These boot machines: imported only when running, so `--help` and bad input stay fast.
    from harness.execute.balance import split_for_jobs
    from harness.execute.capacity import default_jobs
    from harness.execute.estimates import load_estimates, measured, record
    from harness.execute.pool import run_groups
    from harness.execute.prebuild import prebuild_source_kernels

    if args.resume is not None:
        args, run_dir, judged = resumed(args)
    else:
        run_dir, judged = None, set()
    shard = choose_shard(args.shard, os.environ)
    plan = make_plan(request_from(args, shard))
    request = report_request(args)
    request.check()
    predictions = prebuild_source_kernels(plan).predictions()
    jobs = args.jobs or default_jobs()
    run_dir = run_dir or new_run_dir("run")
    journal = Journal(run_dir)
    journal.meta({"argv": getattr(args, "argv", None), "cwd": str(Path.cwd())})
    journal.plan([*plan.skipped, *(planned(c.result(Outcome.NOT_RUN, ""))
                                   for g in plan.groups for c in g.cases)])
    estimates = load_estimates()
    groups = split_for_jobs(_without(plan.groups, judged), jobs,
                            lambda group: restores_l1(group, plan.options), estimates)
    if shard is not None:
        print(f"pmu-harness: shard {shard.text} ({shard.source})", file=sys.stderr)
    resuming = f" ({len(judged)} already judged)" if judged else ""
    print(f"pmu-harness: {sum(len(g.cases) for g in groups)} case(s){resuming} on "
          f"{len(groups)} L1 machine(s), up to {jobs} at once; artefacts in {run_dir}",
          file=sys.stderr)
    for kernel, prediction in predictions.items():
        print(f"pmu-harness: {kernel} is predicted by {prediction}", file=sys.stderr)
    if plan.needs_l2():
        print(f"pmu-harness: linux mode: {plan.options.l2.describe()}", file=sys.stderr)
    start = time.monotonic()

    def progress(result: CaseResult) -> None:
        journal.append(result)
        _progress(result)

    outcome = run_groups(groups, run_dir, plan.options, jobs, progress, estimates=estimates)
    record(measured(groups, outcome.results, outcome.group_seconds))
    for result in outcome.results:
        # What did not come through progress: why a case was not run (interrupted,
        # deadline, worker lost), kept for `report RUN_DIR` and --resume.
        if journal.get(result.name) != result:
            journal.append(result)
    meta: dict[str, Any] = {
        "suite": args.suite, "shard": shard.text if shard else None, "jobs": jobs,
        "run_dir": str(run_dir),
        "groups": [f"{g.kernel}/{g.machine}" for g in plan.groups],
        "predictions": predictions,
        **({"l2": plan.options.l2.describe()} if plan.needs_l2() else {}),
        "seconds": round(time.monotonic() - start, 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **({"resumed": len(judged)} if judged else {})}
    code = emit(journal.results(), meta, replace(request, run_dir=run_dir),
                summary_suffix=f" ({meta['seconds']} s; {run_dir})")
    not_run = sum(1 for r in journal.results() if r.outcome is Outcome.NOT_RUN)
    if not_run:
        print(f"pmu-harness: {not_run} case(s) not run; finish the run with: pmu-harness run "
              f"--resume {run_dir}", file=sys.stderr)
    if outcome.interrupted:
        print("pmu-harness: interrupted; everything started was stopped, every case that "
              "finished kept its verdict", file=sys.stderr)
        return EXIT_INFRA
    return code


def _without(groups: Sequence[Group], judged: set[str]) -> list[Group]:
    """The groups with only the cases that have no verdict yet."""
    left = [Group(g.machine, g.kernel, tuple(c for c in g.cases if c.name not in judged))
            for g in groups]
    return [g for g in left if g.cases]


# What --resume takes from the run it resumes, so none of it may be given again.
SELECTION = ("paths", "kernel", "machine", "mode", "tag", "suite", "shard", "kernel_image",
             "kernel_modules", "tree", "series")


def resumed(args: argparse.Namespace) -> tuple[argparse.Namespace, Path, set[str]]:
    """The cut-off run's own arguments (with this command's -j and report options when
    given), its directory and the names of its cases that have a verdict."""
    run_dir: Path = args.resume
    given = [f"--{k.replace('_', '-')}" if k != "paths" else "SCENARIO|DIR"
             for k in SELECTION if getattr(args, k, None)]
    if given:
        raise UsageError(f"--resume runs the cut-off run's own selection; drop "
                         f"{', '.join(given)}")
    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        raise UsageError(f"--resume {run_dir}: no {JOURNAL_FILE} there (not the directory "
                         "of a `pmu-harness run`)")
    contents = read_journal(path)
    argv, cwd = contents.meta.get("argv"), contents.meta.get("cwd")
    if not isinstance(argv, list) or not all(isinstance(w, str) for w in argv) \
            or not isinstance(cwd, str):
        raise UsageError(f"--resume {run_dir}: its journal does not record the run's "
                         "command line")
    stored = _absolute(_parser().parse_args(argv), Path(cwd))
    stored.argv, stored.resume = argv, None
    for key in ("jobs", "json", "junit", "html", "ktap", "skips"):
        if getattr(args, key, None):
            setattr(stored, key, getattr(args, key))
    judged = {r.name for r in contents.results() if r.outcome is not Outcome.NOT_RUN}
    return stored, run_dir, judged


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmu-harness")
    register(parser.add_subparsers(dest="command"))
    return parser


def _absolute(args: argparse.Namespace, cwd: Path) -> argparse.Namespace:
    """Every path of a command line read back as the directory it was given in saw it."""
    for key, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, key, cwd / value)
        elif isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
            setattr(args, key, [cwd / v for v in value])
    return args
