"""Every report format a command can write to a file, in one registry.

An entry names its option (``--<name>``), says what it writes, and gives a writer of case
results and, when the format can say it, one of a mutants run's results. ``run``,
``rerun`` and ``report`` offer every entry (``cliargs.add_report_arguments``), ``mutants``
every entry with a mutants writer, and ``emit`` writes whichever were asked for: a new
format is one entry here (and the module that renders it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.reports.html import write_html
from harness.reports.junit import junit
from harness.reports.mutants import write_mutants_html, write_mutants_json, write_mutants_junit
from harness.results import CaseResult, write_results_json
from harness.results.mutants import MutantResult

Meta = Mapping[str, Any]
CaseWriter = Callable[[Sequence[CaseResult], Path, Meta], None]
MutantsWriter = Callable[[Sequence[MutantResult], Path, Meta], None]


@dataclass(frozen=True)
class ReportFormat:
    name: str                       # the option is --NAME FILE
    help: str
    cases: CaseWriter
    mutants: MutantsWriter | None = None
    in_run_dir: str | None = None   # also written into every run's directory, by this name
    mutants_in_run_dir: str | None = None  # the same, for a mutants run

    @property
    def option(self) -> str:
        return f"--{self.name}"


def _junit(results: Sequence[CaseResult], path: Path, meta: Meta) -> None:
    junit(results, path)  # JUnit has no place for the run's facts


FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat("json", "write the results as JSON", write_results_json, write_mutants_json,
                 in_run_dir="results.json", mutants_in_run_dir="mutants.json"),
    ReportFormat("html", "write the results as one HTML page (a run's: the matrix of "
                 "scenarios x machine/kernel, each cell linked to its artefacts)",
                 write_html, write_mutants_html,
                 in_run_dir="report.html", mutants_in_run_dir="mutants.html"),
    ReportFormat("junit", "write the results as JUnit XML (a mutants run's: one test per "
                 "mutant, failed when it survived)", _junit, write_mutants_junit),
)


def for_mutants() -> tuple[ReportFormat, ...]:
    return tuple(f for f in FORMATS if f.mutants is not None)
