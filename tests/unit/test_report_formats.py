"""One registry of report formats (``harness/reports/formats.py``): every command that ends
with results offers each entry, and a new entry is all a new format needs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from harness.cli import build_parser, main
from harness.reports import formats
from harness.reports.formats import FORMATS, ReportFormat
from harness.reports.mutants import write_mutants_junit
from harness.results import CaseResult, Outcome, write_results_json
from harness.results.mutants import MutantResult, MutantStatus
from tests.unit.test_results_merge import case_results

CASE_COMMANDS = ("run", "rerun", "report")


def _options(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {o for a in sub.choices[command]._actions for o in a.option_strings}


def test_every_format_is_offered_by_every_command_that_ends_with_results() -> None:
    for command in CASE_COMMANDS:
        assert {f.option for f in FORMATS} <= _options(command), command
    assert {"--json", "--html", "--junit"} <= _options("mutants")


def _text(results: Sequence[CaseResult], path: Path, meta: Mapping[str, Any]) -> None:
    path.write_text("".join(f"{r.name} {r.outcome.value}\n" for r in results))


def _mutants_text(results: Sequence[MutantResult], path: Path,
                  meta: Mapping[str, Any]) -> None:
    path.write_text("".join(f"{r.name} {r.status.value}\n" for r in results))


def test_a_new_format_is_one_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The change docs/architecture.rst shows: one entry, nothing else.
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, ReportFormat(
        "text", "write one line per case", _text, _mutants_text)))
    for command in (*CASE_COMMANDS, "mutants"):
        assert "--text" in _options(command), command
    results = [r for r in case_results([Outcome.PASS]) if r.outcome is Outcome.PASS][:3]
    write_results_json(results, tmp_path / "results.json", {})
    assert main(["report", str(tmp_path / "results.json"), "--text",
                 str(tmp_path / "out.txt")]) == 0
    assert (tmp_path / "out.txt").read_text().splitlines() == [
        f"{r.name} pass" for r in results]


def test_a_format_without_a_mutants_writer_is_not_offered_by_mutants(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, ReportFormat(
        "text", "write one line per case", _text)))
    assert "--text" in _options("report")
    assert "--text" not in _options("mutants")


def _mutant(name: str, status: MutantStatus) -> MutantResult:
    return MutantResult(name, f"{name} breaks it", status, (), (), 10.0, 20.5, 4,
                        f"/runs/{name}")


def test_mutants_as_junit(tmp_path: Path) -> None:
    path = tmp_path / "mutants.xml"
    write_mutants_junit([_mutant("deny-ignored", MutantStatus.KILLED),
                         _mutant("off-by-one", MutantStatus.SURVIVED),
                         _mutant("crash", MutantStatus.ERRORED)], path, {})
    suite = ET.fromstring(path.read_bytes())
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["deny-ignored"].find("failure") is None
    assert cases["deny-ignored"].find("error") is None
    failure = cases["off-by-one"].find("failure")
    assert failure is not None and failure.get("type") == "survived"
    assert failure.text == "no case failed on off-by-one: a hole in the scenarios"
    error = cases["crash"].find("error")
    assert error is not None and error.get("type") == "errored"
    assert cases["crash"].get("time") == "30.500"


def test_the_run_directory_copies_keep_their_names() -> None:
    # Documented in README.rst and read by CI scripts: results.json, report.html.
    by_name = {f.name: f for f in FORMATS}
    assert by_name["json"].in_run_dir == "results.json"
    assert by_name["html"].in_run_dir == "report.html"
    assert by_name["json"].mutants_in_run_dir == "mutants.json"
