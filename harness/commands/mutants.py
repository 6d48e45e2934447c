"""``pmu-harness mutants``: how many planted bugs the scenarios catch.

Runs a suite (default ``mutants``: every scenario on ``filter-v3``, both CPU models) on the
unmutated kernel, then on each mutant of ``kernel-patches/mutants/`` (built incrementally on
the same workspace and ccache), and prints each mutant's fate, the cases that killed it,
its build and suite time, and the mutation score. Exit 0 every mutant killed, 1 a mutant
survived (name it: a hole in the scenarios), 2 bad usage or the unmutated kernel failing a
check (the suite is wrong), 125 infrastructure errors only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths, write_each
from harness.cliargs import add_report_files, report_files, whole_number
from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK
from harness.mutation import (
    DEFAULT_SUITE,
    base_plan,
    choose,
    load_mutants,
    plan_kernel,
    run_mutants,
)
from harness.paths import new_run_dir
from harness.plan import Request
from harness.reports.formats import MutantsWriter, for_mutants
from harness.reports.mutants import mutants_table, score_line
from harness.reports.table import progress_line
from harness.results import CaseResult
from harness.results.mutants import MutantResult, MutantStatus


def register(subparsers: Any) -> None:
    mutants = subparsers.add_parser(
        "mutants", help="run a suite on planted kernel bugs and print the mutation score")
    mutants.add_argument("--suite", default=DEFAULT_SUITE, metavar="NAME",
                         help=f"suite of source-built kernels (default {DEFAULT_SUITE})")
    mutants.add_argument("--kernel", metavar="K",
                         help="run on this source kernel instead of the suite's (the mutants "
                              "ported to it: mutants.yaml `targets`, e.g. source-6.12)")
    mutants.add_argument("--mutant", action="append", default=[], metavar="NAME",
                         help="only this mutant (repeatable; default: every mutant of the "
                              "default run in kernel-patches/mutants/mutants.yaml)")
    mutants.add_argument("-j", "--jobs", type=whole_number(1), metavar="N",
                         help="L1 machines at once (default: one per core, as memory allows)")
    add_report_files(mutants, for_mutants())
    mutants.add_argument("--list", action="store_true",
                         help="list the mutants and what each breaks, and exit")
    mutants.set_defaults(func=mutants_command)


def _progress(result: CaseResult) -> None:
    print(progress_line(result), file=sys.stderr, flush=True)


def _announce(text: str) -> None:
    print(f"pmu-harness: {text}", file=sys.stderr, flush=True)


def _list() -> int:
    for mutant in load_mutants():
        mark = "" if mutant.in_default_run else f"  [not in the default run: {mutant.why_not}]"
        ports = ", ".join(kernel for kernel, _ in mutant.ports) or "nowhere"
        print(f"{mutant.name:<30} {mutant.breaks} (on {ports}){mark}")
    return EXIT_OK


def _writers(results: Sequence[MutantResult], meta: dict[str, Any], run_dir: Path,
             files: dict[str, Path]) -> list[tuple[Path | None, Callable[[Path], None]]]:
    """Each format's copy in the run directory and the file asked for, if any."""
    writers: list[tuple[Path | None, Callable[[Path], None]]] = []
    for report in for_mutants():
        assert report.mutants is not None

        def write(path: Path, writer: MutantsWriter = report.mutants) -> None:
            writer(results, path, meta)
        if report.mutants_in_run_dir is not None:
            writers.append((run_dir / report.mutants_in_run_dir, write))
        writers.append((files.get(report.name), write))
    return writers


def mutants_command(args: argparse.Namespace) -> int:
    from harness.execute.pool import default_jobs

    if args.list:
        return _list()
    files = report_files(args, for_mutants())
    check_output_paths(list(files.values()))
    plan = base_plan(Request(suite=args.suite, kernels=(args.kernel,) if args.kernel else ()))
    mutants = choose(load_mutants(), args.mutant, plan_kernel(plan))
    jobs = args.jobs or default_jobs()
    run_dir = new_run_dir("mutants")
    _announce(f"{len(mutants)} mutant(s) x {plan.case_count} case(s) of suite {args.suite}; "
              f"artefacts in {run_dir}")
    start = time.monotonic()
    run = run_mutants(plan, mutants, run_dir, jobs, _progress, _announce)
    print(mutants_table(run.mutants))
    meta = {"suite": args.suite, "kernel": plan_kernel(plan), "run_dir": str(run_dir), "jobs": jobs,
            "unmutated_cases": len(run.baseline),
            "unmutated_seconds": round(run.baseline_seconds, 1),
            "seconds": round(time.monotonic() - start, 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    failures = write_each(_writers(run.mutants, meta, run_dir, files))
    for failure in failures:
        print(f"pmu-harness: infrastructure error: a report could not be written: {failure}",
              file=sys.stderr)
    print(score_line(run.mutants) + f" ({meta['seconds']} s; {run_dir})")
    statuses = {r.status for r in run.mutants}
    if MutantStatus.SURVIVED in statuses:
        return EXIT_CHECK_FAILED
    if MutantStatus.ERRORED in statuses or failures:
        return EXIT_INFRA
    return EXIT_OK
