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
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths, write_each
from harness.cliargs import whole_number
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
from harness.reports.mutants import (
    mutants_table,
    score_line,
    write_mutants_html,
    write_mutants_json,
)
from harness.reports.table import progress_line
from harness.results import CaseResult
from harness.results.mutants import MutantStatus


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
    mutants.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    mutants.add_argument("--html", type=Path, metavar="FILE", help="write the report as HTML")
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


def mutants_command(args: argparse.Namespace) -> int:
    from harness.execute.pool import default_jobs

    if args.list:
        return _list()
    check_output_paths([args.json, args.html])
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
    failures = write_each([
        (run_dir / "mutants.json", lambda p: write_mutants_json(run.mutants, p, meta)),
        (args.json, lambda p: write_mutants_json(run.mutants, p, meta)),
        (run_dir / "mutants.html", lambda p: write_mutants_html(run.mutants, p, meta)),
        (args.html, lambda p: write_mutants_html(run.mutants, p, meta))])
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
