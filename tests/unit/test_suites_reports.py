"""Suites, shards and the KTAP/JUnit reports (issue 6 groundwork), all without booting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

from harness.catalog import SUITES
from harness.errors import UsageError
from harness.plan import Group, Request, make_plan
from harness.reports.html import render_html
from harness.reports.junit import junit
from harness.reports.ktap import ktap
from harness.reports.table import final_api_differences, revision_matrix, verdict_table
from harness.results import CaseResult, FinalApiVerdict, Outcome, result_from_json
from harness.shard import parse_shard
from harness.suite import load_suite


def plan(request: Request) -> tuple[tuple[Group, ...], tuple[CaseResult, ...]]:
    made = make_plan(request)
    return made.groups, made.skipped


def names(request: Request) -> list[str]:
    groups, _ = plan(request)
    return [c.name for g in groups for c in g.cases]


def test_suites_load() -> None:
    assert {"default", "nightly", "smoke"} <= set(SUITES.names())
    for name in SUITES.names():
        assert load_suite(name).runs


def test_nightly_matrix_shape() -> None:
    groups, _ = plan(Request(suite="nightly"))
    # 4 Debian kernels, 4 revisions of the series and v3's fixed KASAN build, x 2 machines;
    # the 4 Debian kernels on max-icount too; linux cases share the max L1s.
    assert len(groups) == 22
    assert {g.kernel for g in groups if g.machine == "max-icount"} == {
        "debian-5.10", "debian-6.1", "debian-6.12", "debian-latest"}
    assert {g.kernel for g in groups} == {"debian-5.10", "debian-6.1", "debian-6.12",
                                          "debian-latest", "filter-base", "filter-v1",
                                          "filter-v2", "filter-v3", "filter-v3-oob-fix-debug"}
    modes = {c.mode for g in groups for c in g.cases}
    assert modes == {"probe", "linux"}


def test_revision_suites_hold_base_as_the_control() -> None:
    groups, _ = plan(Request(suite="revisions"))
    kernels = {g.kernel for g in groups}
    assert kernels == {"filter-base", "filter-v1", "filter-v2", "filter-v3"}
    assert {g.machine for g in groups} == {"max", "cortex-a57"}
    smoke, _ = plan(Request(suite="revisions-smoke"))
    assert {g.kernel for g in smoke} == {"filter-base", "filter-v3"}


def test_shards_partition_the_matrix() -> None:
    whole = names(Request(suite="nightly"))
    parts = [names(Request(suite="nightly", shard=f"{i}/3")) for i in (1, 2, 3)]
    assert sorted(name for part in parts for name in part) == sorted(whole)
    assert len(set(whole)) == len(whole)
    assert all(parts)


def test_a_bad_suite_names_the_file_and_line_of_every_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "suites").mkdir()
    bad = tmp_path / "suites" / "bad.yaml"
    bad.write_text("name: bad\n"
                   "runs:\n"
                   "  - scenarios: [testcases/scenarios]\n"
                   "    kernels: debian-6.1\n"      # line 4: not a list
                   "    machinez: [max]\n"          # line 5: not a key of a run
                   "  - just a string\n")           # line 6: not a run
    monkeypatch.setattr("harness.catalog.CONFIGS_DIR", tmp_path)
    with pytest.raises(UsageError) as info:
        load_suite("bad")
    problems = info.value.problems
    assert sorted(p.line or 0 for p in problems) == [4, 5, 6]  # each located, none twice
    assert {p.path for p in problems} == {bad}
    assert all(line.startswith(f"{bad}:") for line in str(info.value).splitlines())
    assert any("machinez" in p.message for p in problems if p.line == 5)


def test_bad_shard_and_mixed_suite_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_shard("4/3")
    with pytest.raises(UsageError, match="--suite chooses scenarios, modes and tags"):
        plan(Request(suite="smoke", tags=("smoke",)))
    with pytest.raises(UsageError, match="--suite chooses"):
        plan(Request(suite="smoke", paths=(Path("testcases/scenarios"),)))


def test_a_suite_runs_on_the_kernels_and_machines_given() -> None:
    # "The smoke suite on my kernel": the suite's scenarios and modes, on what was given.
    groups, _ = plan(Request(suite="smoke"))
    assert {(g.kernel, g.machine) for g in groups} == {("debian-6.1", "max")}
    mine, _ = plan(Request(suite="smoke", kernels=("source-6.12", "debian-5.10"),
                           machines=("cortex-a57",)))
    assert {(g.kernel, g.machine) for g in mine} == {("source-6.12", "cortex-a57"),
                                                   ("debian-5.10", "cortex-a57")}
    ids = sorted(c.scenario.id for c in groups[0].cases)
    assert all(sorted(c.scenario.id for c in g.cases) == ids for g in mine)
    with pytest.raises(UsageError, match=r"unknown kernel profile 'debain-6\.1'"):
        plan(Request(suite="smoke", kernels=("debain-6.1",)))


def results() -> list[CaseResult]:
    groups, skipped = plan(Request(suite="smoke"))
    cases = [c for g in groups for c in g.cases]
    outcomes = [Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE]
    made = [replace(c.result(outcomes[i % 3], f"reason # {i}"), artefacts="/tmp/a")
            for i, c in enumerate(cases)]
    return made + list(skipped[:1])


def test_ktap_has_plan_lines_and_totals() -> None:
    text = ktap(results())
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1" and lines[1] == f"1..{len(results())}"
    assert lines[2].startswith("ok 1 ") and lines[3].startswith("not ok 2 ")
    assert lines[-1].startswith("# Totals: pass:")


def test_junit_names_are_unique(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    junit(results(), out)
    cases = ET.fromstring(out.read_bytes()).findall("testcase")
    cases_names = [c.get("name") for c in cases]
    assert len(cases_names) == len(set(cases_names)) == len(results())
    assert any(c.find("failure") is not None for c in cases)


def revision_results() -> list[CaseResult]:
    """cycle-counter-deny on base (own: pass, final: fail), v1 (own: pass, final: fail),
    v3 (pass, no second verdict), and a v2 case that failed its own prediction."""
    groups, _ = plan(Request(suite="revisions"))
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
        made.append(replace(case.result(own, "own reason"), final_api=verdict,
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
    result = revision_results()[0]
    record = result_from_json(result.to_json())
    assert record.final_api is not None and record.final_api.outcome is Outcome.FAIL
    assert record.kernel_revision == "base"
    assert record == result
    again = result_from_json(record.to_json())
    assert again == record


def test_html_marks_the_cells_that_differ_from_the_final_api() -> None:
    records = [result_from_json(r.to_json()) for r in revision_results()]
    page = render_html(records, {})
    # base and v1 (v2 failed its own prediction, v3 is v3); the legend has one without a title
    assert page.count('class="differs" title=') == 2
    assert "Where revisions differ from the final API (2)" in page
    assert "(revision v1): counter cycle_counter; guest PMCEID0" in page
