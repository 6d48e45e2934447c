"""``pmu-harness review SERIES``: a patch series, built on its base (and an earlier revision
of it with ``--against``), run through every scenario, and reported per behaviour for a
reviewer: a terminal summary, ``review.txt`` (a reply for the mailing list), ``review.html``
and ``review.json`` in the run directory.

Exit codes: 0 nothing departs from the documented API of the tree's version, 1 something
does, 2 the series does not apply (naming patch and hunk) or bad usage, 125 an
infrastructure error (a kernel that does not compile, a machine that does not boot).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from harness.atomicfile import check_output_paths, write_atomically, write_each
from harness.cliargs import whole_number
from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK
from harness.paths import new_run_dir
from harness.reports.table import progress_line
from harness.results import CaseResult

DEFAULT_BASE = "source-6.12"


def register(subparsers: Any) -> None:
    review = subparsers.add_parser(
        "review", help="build a patch series on its base, run every scenario and report "
                       "per behaviour for a reviewer")
    review.add_argument("series", type=Path, metavar="SERIES",
                        help="the series: an mbox from `b4 am`, or a directory of patches")
    review.add_argument("--base", default=DEFAULT_BASE, metavar="PROFILE",
                        help=f"the source kernel profile the series applies to (default "
                             f"{DEFAULT_BASE}; `pmu-harness list --kernels`)")
    review.add_argument("--tree", type=Path, metavar="DIR",
                        help="build the base from this kernel checkout instead of the "
                             "profile's Debian source package")
    review.add_argument("--against", type=Path, metavar="SERIES",
                        help="an earlier revision of the series, built on the same base: "
                             "the report says what changed since")
    review.add_argument("--machine", action="append", metavar="M",
                        help="only the review suite's runs on this machine (repeatable; "
                             "default: max and cortex-a57)")
    review.add_argument("--debug", action="store_true",
                        help="build every kernel with the debug option (KASAN, lockdep): "
                             "memory and locking bugs become kernel-health findings")
    review.add_argument("-j", "--jobs", type=whole_number(1), metavar="N",
                        help="L1 machines at once (default: one per core, as memory allows)")
    review.add_argument("--no-snapshots", dest="snapshots", action="store_false",
                        help="boot every L1 cold")
    review.add_argument("--txt", type=Path, metavar="FILE", help="also write review.txt here")
    review.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML here")
    review.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON here")
    review.set_defaults(func=review_command)


def _progress(result: CaseResult) -> None:
    print(progress_line(result), file=sys.stderr, flush=True)


def _announce(text: str) -> None:
    print(f"pmu-harness: {text}", file=sys.stderr, flush=True)


def _command_line(args: argparse.Namespace) -> str:
    words = ["pmu-harness", "review", str(args.series)]
    if args.base != DEFAULT_BASE or args.tree is None:
        words += ["--base", args.base]
    if args.tree is not None:
        words += ["--tree", str(args.tree)]
    if args.against is not None:
        words += ["--against", str(args.against)]
    for machine in args.machine or ():
        words += ["--machine", machine]
    if args.debug:
        words.append("--debug")
    return shlex.join(words)


def review_command(args: argparse.Namespace) -> int:
    from harness.execute.capacity import default_jobs
    from harness.review.assemble import assemble
    from harness.review.mail import render_mail, render_summary, verdict_line
    from harness.review.page import render_page
    from harness.review.session import ReviewRequest, collect, prepare

    check_output_paths([args.txt, args.html, args.json])
    request = ReviewRequest(series=args.series.expanduser().absolute(), base=args.base,
                            tree=args.tree, against=args.against.expanduser().absolute()
                            if args.against else None, machines=tuple(args.machine or ()),
                            debug=args.debug, jobs=args.jobs or default_jobs(),
                            snapshots=args.snapshots, command=_command_line(args))
    planned = prepare(request)
    run_dir = new_run_dir("review")
    _announce(f"reviewing {args.series} on {args.base}; artefacts in {run_dir}")
    inputs = collect(request, planned, run_dir, _progress, _announce)
    review = assemble(inputs)
    mail = render_mail(review)
    data = json.dumps(review.to_json(), indent=1) + "\n"
    failures = write_each([
        (run_dir / "review-inputs.json",
         lambda p: write_atomically(p, json.dumps(inputs.to_json(), indent=1) + "\n")),
        (run_dir / "review.txt", lambda p: write_atomically(p, mail)),
        (args.txt, lambda p: write_atomically(p, mail)),
        (run_dir / "review.json", lambda p: write_atomically(p, data)),
        (args.json, lambda p: write_atomically(p, data)),
        (run_dir / "review.html",
         lambda p: write_atomically(p, render_page(review, run_dir))),
        (args.html, lambda p: write_atomically(p, render_page(review, p.parent.absolute())))])
    print(render_summary(review))
    for failure in failures:
        print(f"pmu-harness: infrastructure error: a report could not be written: {failure}",
              file=sys.stderr)
    print(f"{verdict_line(review)}\nThe reply for the list: {run_dir / 'review.txt'} (also "
          f"review.html, review.json)", file=sys.stderr)
    if review.departures:
        return EXIT_CHECK_FAILED
    if review.unjudged or failures:
        return EXIT_INFRA
    return EXIT_OK
