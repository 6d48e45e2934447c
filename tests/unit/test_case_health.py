"""The kernel-health check of a case, driven through a fake L1 whose console gets the lines a
real kernel printed: a WARN splat (captured from the warn-in-filter-path mutant) fails a
case whose every other check passed; a clean log passes; stalls are reported, not failed."""

from __future__ import annotations

from pathlib import Path

from harness.execute import leaks
from harness.execute.group import run_group
from harness.execute.health import CASE_LOG, CHECK_NAME
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, Group, RunOptions
from harness.results import CaseResult, ErrorClass, Outcome
from harness.scenario.discover import load_scenarios
from tests.unit.fakes import Boots, Capture, ReplayRemote, image_set, probe_capture

LOGS = Path(__file__).resolve().parents[1] / "data" / "kernel-logs"
WARN_LOG = (LOGS / "v3-warn-mutant-max-member-deny.console.log").read_text().splitlines()
# Lines 139-171 of the real console: the WARNING, its registers, call trace and end marker.
WARN_SPLAT = "\n".join(WARN_LOG[138:171]) + "\n"
NO_FILTER = probe_capture("6.1", "max", "01-nofilter")
DENY_CYCLES = probe_capture("6.1", "max", "02-deny-cycles")
CAPTURES = {"no-filter-probe": Capture(NO_FILTER, NO_FILTER),
            "member-deny-probe": Capture(DENY_CYCLES, NO_FILTER)}


def case(ident: str) -> Case:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return Case(scenario, "max", "debian-6.1", "probe")


def run(tmp_path: Path, kernel_says: dict[str, str]) -> list[CaseResult]:
    remote = ReplayRemote(CAPTURES, kernel_says=kernel_says)
    group = Group("max", "debian-6.1", (case("no-filter"), case("member-deny")))
    return run_group(group, tmp_path, RunOptions(image_set=image_set(tmp_path / "images")),
                     lambda result: None, boot=Boots([remote]))


def health_check(result: CaseResult) -> tuple[str, Outcome]:
    (check,) = [c for c in result.checks if c.name == CHECK_NAME]
    return check.observed, check.outcome


def test_the_golden_excerpt_is_the_warning() -> None:
    assert WARN_SPLAT.startswith("WARNING: CPU: 0 PID: 68 at kvm_arm_pmu_v3_set_attr")
    assert WARN_SPLAT.rstrip().endswith("]---")


def test_a_clean_console_passes_with_the_check_recorded(tmp_path: Path) -> None:
    results = run(tmp_path, {})
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.PASS]
    assert health_check(results[1]) == ("none", Outcome.PASS)


def test_a_warning_fails_a_case_whose_checks_all_pass(tmp_path: Path) -> None:
    results = run(tmp_path, {"member-deny-probe": WARN_SPLAT})
    no_filter, member_deny = results
    assert no_filter.outcome is Outcome.PASS  # the splat came during the next case
    assert member_deny.outcome is Outcome.FAIL
    assert member_deny.error_class is ErrorClass.KERNEL_FAILURE
    others = [c for c in member_deny.checks if c.name != CHECK_NAME]
    assert others and all(c.outcome is Outcome.PASS for c in others)
    assert member_deny.reason.startswith(
        f"{CHECK_NAME}: expected no KASAN, UBSAN, lockdep, WARNING, BUG or Oops report, "
        "observed warning: WARNING: CPU: 0 PID: 68 at kvm_arm_pmu_v3_set_attr+0x32c/0x35c")
    # The piece of the console the case added is kept with its artefacts.
    kept = (Path(str(member_deny.artefacts)) / CASE_LOG).read_text()
    assert kept == WARN_SPLAT


def test_a_stall_is_reported_not_failed(tmp_path: Path) -> None:
    # Line 126 of a real cortex-a57 console (a revisions run): TCG being slow, not a bug.
    lines = (LOGS / "v3-hrtimer-cortex-a57-revisions.console.log").read_text().splitlines()
    stall = lines[125] + "\n"
    assert stall == "hrtimer: interrupt took 87099680 ns\n"
    results = run(tmp_path, {"member-deny-probe": stall})
    observed, outcome = health_check(results[1])
    assert outcome is Outcome.PASS and results[1].outcome is Outcome.PASS
    assert observed.startswith("none; 1 stall(s) from emulation load reported (hrtimer)")


# The KASAN report a real filter-v3-debug L1 printed on cortex-a57 (the 9529aaa056ed read).
KASAN_SPLAT = (LOGS / "v3-kasan-slab-oob-cortex-a57-default-policy.l1-kernel.log").read_text()


def run_booted(tmp_path: Path, remote: ReplayRemote) -> tuple[list[CaseResult], Boots]:
    boots = Boots([remote])
    group = Group("max", "debian-6.1", (case("no-filter"), case("member-deny")))
    results = run_group(group, tmp_path, RunOptions(image_set=image_set(tmp_path / "images")),
                        lambda result: None, boot=boots)
    return results, boots


def test_after_a_kasan_report_the_next_case_runs_in_a_fresh_l1(tmp_path: Path) -> None:
    assert KASAN_SPLAT.startswith("=" * 66 + "\nBUG: KASAN: slab-out-of-bounds")
    remote = ReplayRemote(CAPTURES, kernel_says={"no-filter-probe": KASAN_SPLAT})
    results, boots = run_booted(tmp_path, remote)
    first, second = results
    assert boots.events == ["boot 1", "shutdown 1", "boot 2", "shutdown 2"]
    assert first.outcome is Outcome.FAIL
    assert first.l1_checks_off.startswith(
        "kasan report (BUG: KASAN: slab-out-of-bounds in kvm_pmu_get_pmceid+0x130/0x150)")
    assert first.to_json()["l1_checks_off"] == first.l1_checks_off
    # The second case ran in the second L1, whose checkers were on: it has nothing to pass on.
    assert second.outcome is Outcome.PASS and second.l1_checks_off == ""


def test_a_warning_leaves_the_checkers_on_and_the_l1_in_use(tmp_path: Path) -> None:
    remote = ReplayRemote(CAPTURES, kernel_says={"no-filter-probe": WARN_SPLAT})
    results, boots = run_booted(tmp_path, remote)
    assert boots.count == 1
    assert results[0].outcome is Outcome.FAIL and results[0].l1_checks_off == ""


def test_a_taint_that_turns_lockdep_off_also_asks_for_a_fresh_l1(tmp_path: Path) -> None:
    # A "Bad page state" (no KASAN in the kernel) taints with lockdep turned off.
    said = ("BUG: Bad page state in process pmu-probe  pfn:4a2c1\n"
            "Disabling lock debugging due to kernel taint\n")
    remote = ReplayRemote(CAPTURES, kernel_says={"no-filter-probe": said})
    results, boots = run_booted(tmp_path, remote)
    assert boots.count == 2
    assert results[0].l1_checks_off == "the kernel turned lock debugging off (a taint)"


# What kmemleak said after the last case of a real L1 running the filter-leaked mutant.
LEAK_REPORT = (LOGS / "filter-leaked-cortex-a57.kmemleak.txt").read_text()


def kmemleak_check(result: CaseResult) -> list[tuple[str, Outcome]]:
    return [(c.observed, c.outcome) for c in result.checks if c.name == leaks.CHECK_NAME]


def test_a_leak_kmemleak_reports_fails_the_last_case_of_the_l1(tmp_path: Path) -> None:
    assert LEAK_REPORT.startswith("unreferenced object 0xffff00000f59d700 (size 128):")
    remote = ReplayRemote(CAPTURES, kmemleak=LEAK_REPORT)
    results, boots = run_booted(tmp_path, remote)
    first, last = results
    assert first.outcome is Outcome.PASS and kmemleak_check(first) == []
    assert last.outcome is Outcome.FAIL and last.error_class is ErrorClass.KERNEL_FAILURE
    ((observed, outcome),) = kmemleak_check(last)
    assert outcome is Outcome.FAIL
    assert observed.startswith("1 unreferenced object(s), from this case or any before it in "
                               "this L1: unreferenced object 0xffff00000f59d700 (size 128):")
    assert last.reason.startswith(f"{leaks.CHECK_NAME}: expected no unreferenced object")
    # Its other checks all passed: the leak alone failed it.
    assert all(c.outcome is Outcome.PASS for c in last.checks if c.name != leaks.CHECK_NAME)
    assert (Path(str(last.artefacts)) / leaks.REPORT).read_text() == LEAK_REPORT
    assert remote.commands[0] == leaks.PREPARE and remote.commands[-1] == leaks.SCAN
    assert boots.count == 1


def test_no_leak_passes_and_no_kmemleak_is_no_check(tmp_path: Path) -> None:
    clean, _ = run_booted(tmp_path / "clean", ReplayRemote(CAPTURES, kmemleak=""))
    assert [r.outcome for r in clean] == [Outcome.PASS, Outcome.PASS]
    assert kmemleak_check(clean[1]) == [("none", Outcome.PASS)]
    absent, _ = run_booted(tmp_path / "absent", ReplayRemote(CAPTURES))
    assert [kmemleak_check(r) for r in absent] == [[], []]
