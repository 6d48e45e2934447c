"""``pmu-harness report``: one report from the ``results.json`` files of one or more runs.

CI fans a matrix out with ``run --shard i/n --json shard-i.json``; this merges the shards
(which must not overlap) and writes any of the formats ``run`` writes, plus the HTML
matrix. The exit code is ``run``'s rule applied to the merged results: 0 all passed or
skipped, 1 a check failed, 125 an error or an inconclusive result; 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cliargs import add_report_arguments, report_request
from harness.errors import UsageError
from harness.reports import emit
from harness.results import CaseResult, load_results
from harness.results.journal import JOURNAL_FILE, read_journal
from harness.shard import parse_shard


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report", help="merge results.json files (e.g. shards) and write reports")
    report.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS.json|RUN_DIR",
                        help="results files written by `run` (results.json or --json FILE), "
                             "or one run directory: its reports rebuilt from its journal "
                             "(a run whose parent was killed)")
    add_report_arguments(report)
    report.set_defaults(func=run_report)


def _distinct(values: Sequence[object]) -> list[object]:
    out: list[object] = []
    for value in values:
        if value not in (None, "") and value not in out:
            out.append(value)
    return out


def _joined(metas: Sequence[dict[str, Any]], key: str) -> str | None:
    values = _distinct([m.get(key) for m in metas])
    return ", ".join(str(v) for v in values) if values else None


def _missing_shards(shards: Sequence[object]) -> list[str]:
    """Shards of an i/n set that none of the inputs is, when every input is a shard of the
    same n: a CI job that lost its shard must not read as a complete matrix."""
    if not shards or not all(isinstance(s, str) for s in shards):
        return []
    try:
        parsed = {parse_shard(str(s)) for s in shards}
    except UsageError:
        return []
    counts = {n for _, n in parsed}
    if len(counts) != 1:
        return []
    (count,) = counts
    have = {i for i, _ in parsed}
    return [f"{i}/{count}" for i in range(1, count + 1) if i not in have]


def merge_meta(metas: Sequence[dict[str, Any]], inputs: Sequence[Path]) -> dict[str, Any]:
    """One meta for the merged report: distinct values joined, the longest wall time (the
    shards ran side by side), the inputs, and a warning for every missing shard."""
    seconds = [m["seconds"] for m in metas if isinstance(m.get("seconds"), int | float)]
    dates = [str(m["date"]) for m in metas if m.get("date")]
    newest = max(p.stat().st_mtime for p in inputs)
    meta: dict[str, Any] = {
        "suite": _joined(metas, "suite"), "shard": _joined(metas, "shard"),
        "jobs": _joined(metas, "jobs"), "seconds": max(seconds) if seconds else None,
        "date": max(dates) if dates else time.strftime("%Y-%m-%d %H:%M %Z",
                                                       time.localtime(newest)),
        "run_dir": _joined(metas, "run_dir"), "sources": [str(p) for p in inputs],
        "warnings": [],
    }
    missing = _missing_shards([m.get("shard") for m in metas])
    if missing:
        meta["warnings"].append(f"incomplete matrix: shard(s) {', '.join(missing)} "
                                "missing from the inputs")
    return meta


def _from_run_dir(run_dir: Path, others: Sequence[Path]) -> list[CaseResult]:
    """A run's results from its journal: every case it judged, and every case it planned
    and never judged as not run."""
    if others:
        raise UsageError("report RUN_DIR rebuilds one run's reports: give it alone")
    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir}: no {JOURNAL_FILE} (not the directory of a "
                         "`pmu-harness run`)")
    return read_journal(path).results()


def run_report(args: argparse.Namespace) -> int:
    request = report_request(args)
    request.check()
    run_dirs = [p for p in args.inputs if p.is_dir()]
    if run_dirs:
        run_dir = run_dirs[0]
        results = _from_run_dir(run_dir, [p for p in args.inputs if p != run_dir])
        meta = {"run_dir": str(run_dir), "sources": [str(run_dir / JOURNAL_FILE)],
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        return emit(results, meta, replace(request, run_dir=run_dir),
                    summary_suffix=f" (from {run_dir / JOURNAL_FILE})")
    results, metas = load_results(args.inputs)
    meta = merge_meta(metas, args.inputs)
    for warning in meta["warnings"]:
        print(f"pmu-harness: warning: {warning}", file=sys.stderr)
    if not results:
        print("pmu-harness: warning: the inputs hold no results", file=sys.stderr)
    return emit(results, meta, request, summary_suffix=f" ({len(args.inputs)} file(s))")
