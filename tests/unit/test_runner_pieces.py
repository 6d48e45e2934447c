"""Pure pieces around a run: the filter file, the plan, the report, exit codes."""

from __future__ import annotations

from dataclasses import replace

from harness.filterfile import render
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, plan_cases
from harness.reports.table import verdict_table
from harness.results import CaseResult, ErrorClass, Outcome, exit_code, summary_line
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario


def scenario(ident: str) -> Scenario:
    (found,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return found


def test_filter_file_follows_the_documented_format() -> None:
    text = render(scenario("filter-after-run"))
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    assert lines == [
        "pmu-harness-filter 1",
        "vcpus 2",
        "init 0",
        "run 0",
        "filter 1 0x11 1 deny",
        "workload 0x11 cycles=1 loops=2000",
    ]


def test_control_file_has_no_filter_and_no_ordering_step() -> None:
    lines = render(scenario("filter-after-run"), with_filters=False).splitlines()
    assert not [ln for ln in lines if ln.startswith(("filter ", "init ", "run "))]
    assert "vcpus 2" in lines


def test_raw_action_and_no_pmu_vcpus_are_rendered() -> None:
    assert "filter 0 0x11 1 2" in render(scenario("invalid-filter"))
    assert "no-pmu-vcpu 1" in render(scenario("vcpu-without-pmu"))


def test_plan_groups_per_l1_and_skips_with_reasons() -> None:
    scenarios = load_scenarios([SCENARIOS_DIR])
    groups, skipped = plan_cases(scenarios, ["max", "cortex-a57"], ["debian-6.1"],
                                 ["probe", "linux"])
    assert [(g.kernel, g.machine) for g in groups] == [("debian-6.1", "max"),
                                                       ("debian-6.1", "cortex-a57")]
    icount = [s for s in skipped if s.scenario == "inst-retired-icount"]
    # Each skip says which of machine, kernel or mode excluded it.
    assert {s.reason for s in icount} == {"scenario runs on machine max-icount, not max",
                                          "scenario runs on machine max-icount, not cortex-a57"}
    modes = {s.reason for s in skipped if s.mode == "linux" and s.machine == "max"
             and s.scenario == "filter-after-init"}
    assert modes == {"scenario runs in probe mode, not linux"}
    assert all(s.outcome is Outcome.SKIP and s.error_class is None for s in skipped)
    linux_only_masking = {c.scenario.id for g in groups for c in g.cases if c.mode == "linux"}
    assert linux_only_masking == {s.id for s in scenarios if "linux" in s.modes}


def result(outcome: Outcome, reason: str = "r") -> CaseResult:
    case = Case(scenario("no-filter"), "max", "debian-6.1", "probe")
    return replace(case.result(outcome, reason), artefacts="/tmp/x")


def outcomes(*results: CaseResult) -> list[CaseResult]:
    return list(results)


def test_exit_codes_fail_beats_error_beats_pass() -> None:
    assert exit_code(outcomes(result(Outcome.PASS), result(Outcome.SKIP))) == 0
    assert exit_code(outcomes(result(Outcome.PASS), result(Outcome.INCONCLUSIVE))) == 125
    assert exit_code(outcomes(result(Outcome.ERROR), result(Outcome.PASS))) == 125
    assert exit_code(outcomes(result(Outcome.ERROR), result(Outcome.FAIL))) == 1
    assert exit_code(outcomes(result(Outcome.SKIP), result(Outcome.SKIP))) == 5
    assert exit_code(outcomes(result(Outcome.NOT_RUN), result(Outcome.PASS))) == 125


def test_a_case_result_carries_the_cases_identity_and_a_default_error_class() -> None:
    case = Case(scenario("no-filter"), "max", "debian-6.1", "probe")
    made = case.result(Outcome.FAIL, "why")
    assert (made.name, made.scenario, made.machine, made.kernel, made.mode) == (
        "no-filter[max,debian-6.1,probe]", "no-filter", "max", "debian-6.1", "probe")
    assert made.tags == case.scenario.tags and made.reason == "why"
    assert made.needs_a_look
    classes = {o: case.result(o, "").error_class for o in Outcome}
    assert classes == {Outcome.PASS: None, Outcome.SKIP: None,
                       Outcome.FAIL: ErrorClass.KERNEL_FAILURE,
                       Outcome.ERROR: ErrorClass.INFRASTRUCTURE,
                       Outcome.INCONCLUSIVE: ErrorClass.INCONCLUSIVE,
                       Outcome.NOT_RUN: ErrorClass.CANCELED}
    assert not case.result(Outcome.PASS, "").needs_a_look
    assert not case.result(Outcome.SKIP, "").needs_a_look


def test_table_and_summary() -> None:
    results = [result(Outcome.PASS, "5 checks passed"), result(Outcome.FAIL, "x" * 300)]
    table = verdict_table(results)
    assert table.splitlines()[0].split() == ["SCENARIO", "MACHINE", "KERNEL", "MODE", "RESULT",
                                             "REASON"]
    assert "FAIL" in table and "..." in table
    assert summary_line(results) == ("verdict: 1 pass, 1 fail, 0 error, 0 inconclusive, "
                                     "0 skip")
