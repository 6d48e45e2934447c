"""Suites, shards and the KTAP/JUnit reports (issue 6 groundwork), all without booting."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.commands.run import _plan
from harness.errors import UsageError
from harness.formats import junit, ktap
from harness.htmlreport import render_html
from harness.report import final_api_differences, revision_matrix, verdict_table
from harness.results import ResultRecord
from harness.runner import CaseResult
from harness.shard import parse_shard
from harness.suite import load_suite, suite_names
from harness.verdict import FinalApiVerdict, Outcome


def args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"paths": [], "kernel": None, "machine": None, "mode": None,
                               "tag": [], "suite": None, "shard": None}
    base.update(kw)
    return argparse.Namespace(**base)


def names(ns: argparse.Namespace) -> list[str]:
    groups, _ = _plan(ns)
    return [c.name for g in groups for c in g.cases]


def test_suites_load() -> None:
    assert {"default", "nightly", "smoke"} <= set(suite_names())
    for name in suite_names():
        assert load_suite(name).runs


def test_nightly_matrix_shape() -> None:
    groups, _ = _plan(args(suite="nightly"))
    # 4 Debian kernels and 4 revisions of the series, x 2 machines; linux cases share the
    # max L1s.
    assert len(groups) == 16
    assert {g.kernel for g in groups} == {"debian-5.10", "debian-6.1", "debian-6.12",
                                          "debian-latest", "filter-base", "filter-v1",
                                          "filter-v2", "filter-v3"}
    modes = {c.mode for g in groups for c in g.cases}
    assert modes == {"probe", "linux"}


def test_revision_suites_hold_base_as_the_control() -> None:
    groups, _ = _plan(args(suite="revisions"))
    kernels = {g.kernel for g in groups}
    assert kernels == {"filter-base", "filter-v1", "filter-v2", "filter-v3"}
    assert {g.machine for g in groups} == {"max", "cortex-a57"}
    smoke, _ = _plan(args(suite="revisions-smoke"))
    assert {g.kernel for g in smoke} == {"filter-base", "filter-v3"}


def test_shards_partition_the_matrix() -> None:
    whole = names(args(suite="nightly"))
    parts = [names(args(suite="nightly", shard=f"{i}/3")) for i in (1, 2, 3)]
    assert sorted(name for part in parts for name in part) == sorted(whole)
    assert len(set(whole)) == len(whole)
    assert all(parts)


def test_bad_shard_and_mixed_suite_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_shard("4/3")
    with pytest.raises(UsageError):
        _plan(args(suite="smoke", kernel=["debian-6.1"]))


def results() -> list[CaseResult]:
    groups, skipped = _plan(args(suite="smoke"))
    cases = [c for g in groups for c in g.cases]
    outcomes = [Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE]
    made = [CaseResult(c, outcomes[i % 3], f"reason # {i}", artefacts=Path("/tmp/a"))
            for i, c in enumerate(cases)]
    return made + skipped[:1]


def test_ktap_has_plan_lines_and_totals() -> None:
    text = ktap(results())
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1" and lines[1] == f"1..{len(results())}"
    assert lines[2].startswith("ok 1 ") and lines[3].startswith("not ok 2 ")
    assert lines[-1].startswith("# Totals: pass:")


def test_junit_names_are_unique(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    junit(results(), out)
    cases = ET.parse(out).getroot().findall("testcase")  # noqa: S314 - our own file
    cases_names = [c.get("name") for c in cases]
    assert len(cases_names) == len(set(cases_names)) == len(results())
    assert any(c.find("failure") is not None for c in cases)


def revision_results() -> list[CaseResult]:
    """cycle-counter-deny on base (own: pass, final: fail), v1 (own: pass, final: fail),
    v3 (pass, no second verdict), and a v2 case that failed its own prediction."""
    groups, _ = _plan(args(suite="revisions"))
    by_key = {(c.scenario.id, c.kernel, c.machine): c for g in groups for c in g.cases}
    made = []
    for kernel, revision, own, final in (
            ("filter-base", "base", Outcome.PASS, Outcome.FAIL),
            ("filter-v1", "v1", Outcome.PASS, Outcome.FAIL),
            ("filter-v2", "v2", Outcome.FAIL, Outcome.FAIL),
            ("filter-v3", "v3", Outcome.PASS, None)):
        case = by_key[("cycle-counter-deny", kernel, "max")]
        verdict = FinalApiVerdict("v3", final, f"{kernel}: cycle_counter counting",
                                  ("counter cycle_counter", "guest PMCEID0")) \
            if final else None
        made.append(CaseResult(case, own, "own reason", final_api=verdict,
                               kernel_revision=revision))
    return made


def test_revision_matrix_shows_where_a_revision_differs_from_the_final_api() -> None:
    matrix = revision_matrix(revision_results()).splitlines()
    assert matrix[0].split() == ["SCENARIO", "MACHINE", "MODE", "FILTER-BASE", "FILTER-V1",
                                 "FILTER-V2", "FILTER-V3"]
    row = " ".join(matrix[1].split())
    assert row == ("cycle-counter-deny max probe PASS, differs from v3 "
                   "PASS, differs from v3 FAIL PASS")
    lines = final_api_differences(revision_results())
    assert lines == [
        "cycle-counter-deny[max,filter-base,probe]: differs from v3 in counter cycle_counter; "
        "guest PMCEID0",
        "cycle-counter-deny[max,filter-v1,probe]: differs from v3 in counter cycle_counter; "
        "guest PMCEID0"]


def test_the_table_gets_a_final_api_column_only_for_revisions() -> None:
    table = verdict_table(revision_results()).splitlines()
    assert "VS FINAL API" in table[0]
    assert "FAIL (v3)" in table[1] and table[4].split()[5] == "same"
    assert "VS FINAL API" not in verdict_table(results())
    assert revision_matrix(results()) == ""


def test_final_api_survives_the_json_round_trip() -> None:
    record = ResultRecord.from_case_result(revision_results()[0])
    assert record.final_api is not None and record.final_api.outcome is Outcome.FAIL
    assert record.kernel_revision == "base"
    again = ResultRecord.from_json(record.to_json())
    assert again == record


def test_html_marks_the_cells_that_differ_from_the_final_api() -> None:
    records = [ResultRecord.from_case_result(r) for r in revision_results()]
    page = render_html(records, {})
    # base and v1 (v2 failed its own prediction, v3 is v3); the legend has one without a title
    assert page.count('class="differs" title=') == 2
    assert "Where revisions differ from the final API (2)" in page
    assert "(revision v1): counter cycle_counter; guest PMCEID0" in page
