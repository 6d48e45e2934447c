"""``pmu-harness mutants``: how many planted bugs the scenarios catch.

Runs a suite (default ``mutants``: every scenario on ``filter-v3``, both CPU models) on the
unmutated kernel, then on each mutant of ``kernel-patches/mutants/`` whose suite it is
(built incrementally on the same workspace and ccache), and prints each mutant's fate, the
cases that killed it, its build and suite time, and the mutation score. ``--all`` runs every
mutant on its own suite (the heap-corrupting ones and the leak on a KASAN + kmemleak
kernel), one suite after the other, and prints one score over all of them. ``--record``
writes what a real run killed to ``kernel-patches/mutants/scores.yaml``, which ``--list``
shows. Exit 0 every mutant killed, 1 a mutant survived (name it: a hole in the scenarios), 2
bad usage or the unmutated kernel failing a check (the suite is wrong), 125 infrastructure
errors only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths, write_each
from harness.cliargs import add_report_files, report_files, whole_number
from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK, UsageError
from harness.inputfile import read_json
from harness.mutantscores import (
    MAX_RUN_BYTES,
    SCORES,
    describe,
    load_scores,
    merged,
    scores_from_run,
    write_scores,
)
from harness.mutation import (
    DEFAULT_SUITE,
    Mutant,
    base_plan,
    choose,
    load_mutants,
    plan_kernel,
    run_all,
    run_mutants,
)
from harness.paths import new_run_dir
from harness.plan import Request
from harness.reports.formats import MutantsWriter, for_mutants
from harness.reports.mutants import mutants_json, mutants_table, score_line
from harness.reports.table import progress_line
from harness.results import CaseResult
from harness.results.mutants import MutantResult, MutantStatus


def register(subparsers: Any) -> None:
    mutants = subparsers.add_parser(
        "mutants", help="run a suite on planted kernel bugs and print the mutation score")
    mutants.add_argument("--suite", default=DEFAULT_SUITE, metavar="NAME",
                         help=f"suite of source-built kernels (default {DEFAULT_SUITE}); "
                              "runs the mutants whose suite it is (mutants.yaml `suite`)")
    mutants.add_argument("--all", action="store_true",
                         help="every mutant, each on its own suite, one score over all")
    mutants.add_argument("--kernel", metavar="K",
                         help="run on this source kernel instead of the suite's (the mutants "
                              "ported to it: mutants.yaml `targets`, e.g. source-6.12)")
    mutants.add_argument("--mutant", action="append", default=[], metavar="NAME",
                         help="only this mutant (repeatable; default: every mutant of the "
                              "suite in kernel-patches/mutants/mutants.yaml)")
    mutants.add_argument("-j", "--jobs", type=whole_number(1), metavar="N",
                         help="L1 machines at once (default: one per core, as memory allows)")
    add_report_files(mutants, for_mutants())
    mutants.add_argument("--record", nargs="?", const="", metavar="RUN_JSON",
                         help="write what a real run killed to kernel-patches/mutants/"
                              "scores.yaml: the run of RUN_JSON (a mutants run's JSON), or, "
                              "without it, this run once it ends")
    mutants.add_argument("--list", action="store_true",
                         help="list the mutants, what each breaks, its suite and what the "
                              "recorded run killed it with, and exit")
    mutants.set_defaults(func=mutants_command)


def _progress(result: CaseResult) -> None:
    print(progress_line(result), file=sys.stderr, flush=True)


def _announce(text: str) -> None:
    print(f"pmu-harness: {text}", file=sys.stderr, flush=True)


def _list() -> int:
    scores: dict[str, list[str]] = {}
    for score in load_scores():
        scores.setdefault(score.mutant, []).append(describe(score))
    for mutant in load_mutants():
        ports = ", ".join(kernel for kernel, _ in mutant.ports) or "nowhere"
        print(f"{mutant.name:<30} {mutant.breaks} (suite {mutant.suite}; on {ports})")
        for line in scores.get(mutant.name, ["not recorded yet (mutants --record)"]):
            print(f"{'':<32}{line}")
    return EXIT_OK


def _record(data: object, source: Path, mutants: Sequence[Mutant]) -> str:
    """Record a run's JSON in scores.yaml; what to say about it."""
    new = scores_from_run(data, source, [m.name for m in mutants])
    write_scores(merged(load_scores(), new))
    return f"recorded {len(new)} mutant(s) of {source} in {SCORES}"


def _record_file(path: str) -> int:
    source = Path(path)
    data = read_json(source, MAX_RUN_BYTES, "mutants run")
    print(_record(data, source, load_mutants()))
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


def _exit_status(results: Sequence[MutantResult], failures: Sequence[str]) -> int:
    statuses = {r.status for r in results}
    if MutantStatus.SURVIVED in statuses:
        return EXIT_CHECK_FAILED
    if MutantStatus.ERRORED in statuses or failures:
        return EXIT_INFRA
    return EXIT_OK


def _check_usage(args: argparse.Namespace) -> None:
    if args.record and (args.all or args.mutant or args.kernel or args.list):
        raise UsageError("--record RUN_JSON records an earlier run: it takes no run options "
                         "(use --record without a file to record this run)")
    if args.all and (args.mutant or args.kernel or args.suite != DEFAULT_SUITE):
        raise UsageError("--all runs every mutant on its own suite: it takes no --suite, "
                         "--kernel or --mutant")


def _run(args: argparse.Namespace, mutants: Sequence[Mutant], run_dir: Path, jobs: int
         ) -> tuple[list[MutantResult], dict[str, Any]]:
    """This run's results and what its reports say about it."""
    if args.all:
        everything = run_all(mutants, run_dir, jobs, _progress, _announce)
        for name, why in everything.not_run.items():
            _announce(f"{name}: not run ({why})")
        return everything.mutants, {
            "suites": list(everything.runs), "kernels": everything.kernels,
            "not_run": everything.not_run,
            "unmutated_cases": {s: len(r.baseline) for s, r in everything.runs.items()},
            "unmutated_seconds": {s: round(r.baseline_seconds, 1)
                                  for s, r in everything.runs.items()}}
    plan = base_plan(Request(suite=args.suite, kernels=(args.kernel,) if args.kernel else ()))
    chosen = choose(mutants, args.mutant, plan_kernel(plan), args.suite)
    if not chosen:
        raise UsageError(f"no mutant's suite is {args.suite} (mutants.yaml `suite`): name "
                         "them with --mutant, or run --all")
    _announce(f"{len(chosen)} mutant(s) x {plan.case_count} case(s) of suite {args.suite}")
    run = run_mutants(plan, chosen, run_dir, jobs, _progress, _announce, args.suite)
    return run.mutants, {"suite": args.suite, "kernel": plan_kernel(plan),
                         "unmutated_cases": len(run.baseline),
                         "unmutated_seconds": round(run.baseline_seconds, 1)}


def mutants_command(args: argparse.Namespace) -> int:
    from harness.execute.capacity import default_jobs

    _check_usage(args)
    if args.list:
        return _list()
    if args.record:
        return _record_file(args.record)
    files = report_files(args, for_mutants())
    check_output_paths(list(files.values()))
    mutants = load_mutants()
    jobs = args.jobs or default_jobs()
    run_dir = new_run_dir("mutants")
    _announce(f"artefacts in {run_dir}")
    start = time.monotonic()
    results, about = _run(args, mutants, run_dir, jobs)
    print(mutants_table(results))
    meta = {**about, "run_dir": str(run_dir), "jobs": jobs,
            "seconds": round(time.monotonic() - start, 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    failures = write_each(_writers(results, meta, run_dir, files))
    for failure in failures:
        print(f"pmu-harness: infrastructure error: a report could not be written: {failure}",
              file=sys.stderr)
    print(score_line(results) + f" ({meta['seconds']} s; {run_dir})")
    if args.record == "":
        # The same JSON the run directory keeps: a run is recorded as --record FILE would.
        data = json.loads(mutants_json(results, meta))
        _announce(_record(data, run_dir / "mutants.json", mutants))
    return _exit_status(results, failures)
