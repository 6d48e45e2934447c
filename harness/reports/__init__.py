"""Reports of results: the verdict table, KTAP, JUnit XML, the HTML matrix and JSON.

Each format depends only on the result model (``harness.results``). ``emit`` is the one
place that decides what a finished run says and writes, and what exit code it ends with;
``run``, ``rerun`` and ``report`` all call it, so they cannot drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.atomicfile import check_output_paths, write_each
from harness.reports import formats
from harness.reports.formats import ReportFormat
from harness.reports.ktap import ktap
from harness.reports.table import final_api_differences, revision_matrix, verdict_table
from harness.results import (
    CaseResult,
    exit_code,
    exit_code_without_reports,
    failure_pointers,
    summary_line,
)


@dataclass(frozen=True)
class ReportRequest:
    """What the user asked for, and where the run keeps its own copies."""

    files: Mapping[str, Path] = field(default_factory=dict)  # format name -> where
    ktap: bool = False            # KTAP on stdout; the table then goes to stderr
    include_skips: bool = False   # skipped cases as rows of the table
    run_dir: Path | None = None   # results.json and report.html are always written here

    def check(self) -> None:
        """Refuse, before anything runs, a report path that could not be written."""
        check_output_paths(list(self.files.values()))


def full_table(results: Sequence[CaseResult], include_skips: bool) -> str:
    """The verdict table and, on source-built revisions, the revision matrix after it."""
    table = verdict_table(results, include_skips=include_skips)
    matrix = revision_matrix(results)
    if matrix:
        table += ("\n\nrevisions (each against its own prediction; \"differs from\": the "
                  "final API predicts otherwise):\n" + matrix)
        table += "".join(f"\n  {line}" for line in final_api_differences(results))
    return table


def _writers(results: Sequence[CaseResult], meta: dict[str, Any], request: ReportRequest
             ) -> list[tuple[Path | None, Callable[[Path], None]]]:
    writers: list[tuple[Path | None, Callable[[Path], None]]] = []
    for report in formats.FORMATS:
        def write(path: Path, report: ReportFormat = report) -> None:
            report.cases(results, path, meta)
        if request.run_dir is not None and report.in_run_dir is not None:
            writers.append((request.run_dir / report.in_run_dir, write))
        writers.append((request.files.get(report.name), write))
    return writers


def emit(results: Sequence[CaseResult], meta: dict[str, Any], request: ReportRequest, *,
         summary_suffix: str = "", notes: Sequence[str] = (),
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the table (or KTAP), write every report, point at what needs a look, and
    return the exit code: ``run``'s rule over the results, 125 if a report could not be
    written (never in place of a failed check). Each file is written whole or not at all,
    and one that fails does not keep the others from being written. ``notes`` are printed
    on stderr before the summary line (a rerun's comparison, for one)."""
    out = out or sys.stdout
    err = err or sys.stderr
    table = full_table(results, request.include_skips)
    if request.ktap:
        print(table, file=err)
        print(ktap(results), end="", file=out)
    else:
        print(table, file=out)
    code = exit_code(results)
    for failure in write_each(_writers(results, meta, request)):
        print(f"pmu-harness: infrastructure error: a report could not be written: {failure}",
              file=err)
        code = exit_code_without_reports(code)
    for pointer in failure_pointers(results):
        print(pointer, file=err)
    for result in results:
        if result.bundle is not None:
            print(f"rerun: pmu-harness rerun {result.bundle}", file=err)
    for note in notes:
        print(note, file=err)
    print(summary_line(results) + summary_suffix, file=err if request.ktap else out)
    return code
