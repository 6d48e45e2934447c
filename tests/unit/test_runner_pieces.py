"""Pure pieces around a run: the filter file, the plan, the report, exit codes."""

from __future__ import annotations

from pathlib import Path

from harness.commands.run import exit_code
from harness.filterfile import render
from harness.paths import SCENARIOS_DIR
from harness.report import summary_line, verdict_table
from harness.runner import Case, CaseResult, plan
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario
from harness.verdict import Outcome


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
        "workload 0x11 cycles=1 loops=20000",
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
    groups, skipped = plan(scenarios, ["max", "cortex-a57"], ["debian-6.1"], ["probe", "linux"])
    assert [(g.kernel, g.machine) for g in groups] == [("debian-6.1", "max"),
                                                       ("debian-6.1", "cortex-a57")]
    icount = [s for s in skipped if s.case.scenario.id == "inst-retired-icount"]
    assert icount and all("does not apply" in s.reason for s in icount)
    linux_only_masking = {c.scenario.id for g in groups for c in g.cases if c.mode == "linux"}
    assert linux_only_masking == {s.id for s in scenarios if "linux" in s.modes}


def result(outcome: Outcome, reason: str = "r") -> CaseResult:
    return CaseResult(Case(scenario("no-filter"), "max", "debian-6.1", "probe"), outcome, reason,
                      artefacts=Path("/tmp/x"))


def test_exit_codes_fail_beats_error_beats_pass() -> None:
    assert exit_code([result(Outcome.PASS), result(Outcome.SKIP)]) == 0
    assert exit_code([result(Outcome.PASS), result(Outcome.INCONCLUSIVE)]) == 125
    assert exit_code([result(Outcome.ERROR), result(Outcome.PASS)]) == 125
    assert exit_code([result(Outcome.ERROR), result(Outcome.FAIL)]) == 1


def test_table_and_summary() -> None:
    results = [result(Outcome.PASS, "5 checks passed"), result(Outcome.FAIL, "x" * 300)]
    table = verdict_table(results)
    assert table.splitlines()[0].split() == ["SCENARIO", "MACHINE", "KERNEL", "MODE", "RESULT",
                                             "REASON"]
    assert "FAIL" in table and "..." in table
    assert summary_line(results) == ("verdict: 1 pass, 1 fail, 0 error, 0 inconclusive, "
                                     "0 skip")
