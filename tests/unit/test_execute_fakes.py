"""A case and a group driven through the real execution code with a fake L1: a ``Remote``
that replays probe output captured on real kernels, and a scripted boot factory that
counts boots. What is checked is the retry policy and the error classes: an
infrastructure error re-runs the case in a fresh L1, a failed check never does, an L1 that
does not boot counts against the first case waiting for it, and nothing but results comes
out of ``run_group`` or the worker pool."""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path

import pytest

from harness.errors import InfraError, UsageError
from harness.execute.case import Environment, pmu_model, run_case
from harness.execute.group import run_group
from harness.execute.pool import run_groups
from harness.kernelrules import KernelVersion
from harness.l2.remote import CommandResult
from harness.machine.profile import load_machine_profile
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, Group, RunOptions
from harness.results import CaseResult, ErrorClass, Outcome
from harness.scenario.discover import load_scenarios
from tests.unit.fakes import (
    Boots,
    Capture,
    ReplayRemote,
    image_set,
    probe_capture,
    shrink_pool_deadlines,
    stuck_progress,
)

NO_FILTER = probe_capture("6.1", "max", "01-nofilter")
DENY_CYCLES = probe_capture("6.1", "max", "02-deny-cycles")
# What each case's probe runs gave on Debian 6.1 on QEMU max (all three pass there).
CAPTURES = {
    "no-filter-probe": Capture(NO_FILTER, NO_FILTER),
    "member-deny-probe": Capture(DENY_CYCLES, NO_FILTER),
    "cycle-counter-deny-probe": Capture(DENY_CYCLES, NO_FILTER),
}
# member-deny's filter had no effect: the kernel is wrong, a failed check.
IGNORED_FILTER = {**CAPTURES, "member-deny-probe": Capture(NO_FILTER, NO_FILTER)}


def case(ident: str) -> Case:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return Case(scenario, "max", "debian-6.1", "probe")


def group(*idents: str) -> Group:
    return Group("max", "debian-6.1", tuple(case(i) for i in idents))


def options(tmp_path: Path, retries: int = 1) -> RunOptions:
    return RunOptions(retries=retries, image_set=image_set(tmp_path / "images"))


def outcomes(results: list[CaseResult]) -> list[tuple[str, Outcome]]:
    return [(r.name, r.outcome) for r in results]


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "RETRY" in r.getMessage() and r.levelno == logging.WARNING]


# -- one case -------------------------------------------------------------------------------


def test_a_case_runs_through_the_real_probe_runner(tmp_path: Path) -> None:
    remote = ReplayRemote(CAPTURES)
    env = Environment(remote, pmu_model(load_machine_profile("max")),
                      KernelVersion.parse("6.1.192-1"), tmp_path)
    result = run_case(case("member-deny"), env)
    assert result.outcome is Outcome.PASS, result.reason
    assert result.error_class is None and result.kernel_version == "6.1.192"
    assert remote.probe_runs() == ["member-deny-probe/control", "member-deny-probe/filtered"]
    case_dir = tmp_path / "member-deny-probe"
    assert result.artefacts == str(case_dir)
    # The filter files sent to L1 are the ones kept as artefacts; only one has the filter.
    sent = {Path(k).name: v for k, v in remote.files.items()}
    assert sent == {"control.filter": (case_dir / "control.filter").read_text(),
                    "filtered.filter": (case_dir / "filtered.filter").read_text()}
    assert "filter 0 0x11 1 deny" in sent["filtered.filter"]
    assert not [line for line in sent["control.filter"].splitlines()
                if line.startswith("filter ")]
    assert json.loads((case_dir / "verdict.json").read_text())["result"] == "pass"


def test_l1_lost_during_a_case_is_an_infrastructure_error(tmp_path: Path) -> None:
    remote = ReplayRemote(CAPTURES, lost_on=frozenset({"member-deny-probe"}))
    env = Environment(remote, pmu_model(load_machine_profile("max")),
                      KernelVersion.parse("6.1.192-1"), tmp_path)
    result = run_case(case("member-deny"), env)
    assert result.outcome is Outcome.ERROR
    assert result.error_class is ErrorClass.INFRASTRUCTURE
    assert result.reason.startswith("infrastructure: SSH connection to L1 lost")
    assert result.checks == ()


# -- (a) an infrastructure error: the case again, in a fresh L1 ------------------------------


def test_an_infrastructure_error_reruns_the_case_in_a_fresh_l1(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = ReplayRemote(CAPTURES, lost_on=frozenset({"member-deny-probe"}))
    second = ReplayRemote(CAPTURES)
    boots = Boots([first, second])
    reported: list[CaseResult] = []
    with caplog.at_level(logging.INFO, logger="harness"):
        results = run_group(group("no-filter", "member-deny", "cycle-counter-deny"), tmp_path,
                            options(tmp_path), reported.append, boot=boots)
    assert outcomes(results) == [("no-filter[max,debian-6.1,probe]", Outcome.PASS),
                                 ("member-deny[max,debian-6.1,probe]", Outcome.PASS),
                                 ("cycle-counter-deny[max,debian-6.1,probe]", Outcome.PASS)]
    # The suspect L1 is shut down before the fresh one boots; the case that met the error
    # runs again there, and the cases after it too. member-deny's control is the same run as
    # no-filter's: the first L1 answered it once; the fresh L1 shares nothing of the old one,
    # so there member-deny runs its own.
    assert boots.events == ["boot 1", "shutdown 1", "boot 2", "shutdown 2"]
    assert first.probe_runs() == ["no-filter-probe/control", "no-filter-probe/filtered",
                                  "member-deny-probe/filtered"]
    assert second.probe_runs() == ["member-deny-probe/control", "member-deny-probe/filtered",
                                   "cycle-counter-deny-probe/control",
                                   "cycle-counter-deny-probe/filtered"]
    assert reported == results  # the attempt that erred is not a result
    (retry,) = retries_logged(caplog)
    assert "member-deny[max,debian-6.1,probe] in a fresh L1" in retry
    assert "SSH connection to L1 lost" in retry
    assert all(r.bundle is None and r.error_class is None for r in results)


def test_an_infrastructure_error_with_no_retry_left_stands(tmp_path: Path) -> None:
    lost = ReplayRemote(CAPTURES, lost_on=frozenset({"member-deny-probe"}))
    boots = Boots([lost])  # every L1 loses its connection on member-deny
    results = run_group(group("member-deny", "no-filter"), tmp_path, options(tmp_path),
                        lambda r: None, boot=boots)
    assert outcomes(results) == [("member-deny[max,debian-6.1,probe]", Outcome.ERROR),
                                 ("no-filter[max,debian-6.1,probe]", Outcome.PASS)]
    # Once retried; then its error stands and the next case gets a fresh L1 of its own.
    assert boots.count == 3
    assert results[0].error_class is ErrorClass.INFRASTRUCTURE
    assert results[0].bundle is not None and Path(results[0].bundle, "bundle.json").is_file()


# -- (b) an L1 that does not boot --------------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_an_l1_that_does_not_boot_errs_every_case_after_its_retries(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, retries: int) -> None:
    failure = InfraError("QEMU exited with status 1 before L1 booted",
                         log_tail="qemu-system-aarch64: could not load kernel 'Image'")
    boots = Boots([failure])
    reported: list[CaseResult] = []
    with caplog.at_level(logging.INFO, logger="harness"):
        results = run_group(group("no-filter", "member-deny"), tmp_path,
                            options(tmp_path, retries), reported.append, boot=boots)
    assert boots.count == retries + 1
    assert outcomes(results) == [("no-filter[max,debian-6.1,probe]", Outcome.ERROR),
                                 ("member-deny[max,debian-6.1,probe]", Outcome.ERROR)]
    group_dir = tmp_path / "debian-6.1-max"
    for result in results:
        assert result.error_class is ErrorClass.INFRASTRUCTURE
        assert result.reason == ("infrastructure: QEMU exited with status 1 before L1 "
                                 "booted")
        assert result.artefacts == str(group_dir)
    assert reported == results
    evidence = (group_dir / "infrastructure-error.txt").read_text()
    assert "could not load kernel 'Image'" in evidence
    # Each boot that failed counted against the first case waiting for its L1.
    logged = retries_logged(caplog)
    assert len(logged) == retries
    assert all("L1 for no-filter[max,debian-6.1,probe]: QEMU exited" in m for m in logged)


def test_a_boot_failure_counts_against_the_first_waiting_case(tmp_path: Path) -> None:
    # The first boot fails: that was no-filter's retry. Its L1 then loses SSH on it: with
    # no retry left, its error stands; member-deny runs in a third L1.
    lost = ReplayRemote(CAPTURES, lost_on=frozenset({"no-filter-probe"}))
    good = ReplayRemote(CAPTURES)
    boots = Boots([InfraError("SSH to L1 never came up"), lost, good])
    results = run_group(group("no-filter", "member-deny"), tmp_path, options(tmp_path),
                        lambda r: None, boot=boots)
    assert outcomes(results) == [("no-filter[max,debian-6.1,probe]", Outcome.ERROR),
                                 ("member-deny[max,debian-6.1,probe]", Outcome.PASS)]
    assert "SSH connection to L1 lost" in results[0].reason
    assert boots.count == 3 and good.probe_runs()[0] == "member-deny-probe/control"


def test_a_boot_failure_then_a_good_l1_runs_every_case(tmp_path: Path) -> None:
    boots = Boots([InfraError("SSH to L1 never came up"), ReplayRemote(CAPTURES)])
    results = run_group(group("no-filter", "member-deny"), tmp_path, options(tmp_path),
                        lambda r: None, boot=boots)
    assert [r.outcome for r in results] == [Outcome.PASS, Outcome.PASS]
    assert boots.events == ["boot 1", "boot 2", "shutdown 2"]


# -- (c) a failed check is never retried -------------------------------------------------------


def test_a_failed_check_is_never_retried(tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    remote = ReplayRemote(IGNORED_FILTER)
    boots = Boots([remote])
    with caplog.at_level(logging.INFO, logger="harness"):
        results = run_group(group("member-deny", "no-filter"), tmp_path, options(tmp_path),
                            lambda r: None, boot=boots)
    assert outcomes(results) == [("member-deny[max,debian-6.1,probe]", Outcome.FAIL),
                                 ("no-filter[max,debian-6.1,probe]", Outcome.PASS)]
    assert boots.count == 1 and retries_logged(caplog) == []
    assert remote.probe_runs().count("member-deny-probe/filtered") == 1
    failed = results[0]
    assert failed.error_class is ErrorClass.KERNEL_FAILURE
    assert any(c.outcome is Outcome.FAIL for c in failed.checks)
    # What needs a look gets a reproducer bundle, with the L1 it ran in.
    assert failed.bundle is not None
    bundle = json.loads(Path(failed.bundle, "bundle.json").read_text())
    assert bundle["result"]["result"] == "fail"
    assert bundle["result"]["error_class"] == "kernel-failure"
    assert bundle["kernel"]["profile"] == "debian-6.1"
    assert Path(failed.bundle, "logs", "l1", "console-1-cold.log").is_file()


def test_a_verdict_stands_when_its_bundle_cannot_be_written(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bundles").write_text("a file where the bundles directory should be\n")
    boots = Boots([ReplayRemote(IGNORED_FILTER)])
    with caplog.at_level(logging.INFO, logger="harness"):
        (result,) = run_group(group("member-deny"), tmp_path, options(tmp_path),
                              lambda r: None, boot=boots)
    assert result.outcome is Outcome.FAIL and result.bundle is None
    assert result.error_class is ErrorClass.KERNEL_FAILURE
    assert any("no bundle for member-deny[max,debian-6.1,probe]" in r.getMessage()
               and r.levelno == logging.WARNING for r in caplog.records)


# -- (d) a usage error or a harness bug inside a group: results, never an exception -----------


@pytest.mark.parametrize(("raised", "error_class", "reason"), [
    (UsageError("--nvhe: machine max cannot boot nVHE"), ErrorClass.SCENARIO_ERROR,
     "scenario error: --nvhe: machine max cannot boot nVHE"),
    (RuntimeError("oops"), ErrorClass.HARNESS_BUG, "harness bug: oops"),
    (KeyError("kvm_mode"), ErrorClass.HARNESS_BUG, "harness bug: 'kvm_mode'"),
], ids=["usage-error", "runtime-error", "key-error"])
def test_errors_that_are_not_the_machinerys_get_their_own_class(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, raised: Exception,
        error_class: ErrorClass, reason: str) -> None:
    boots = Boots([raised])
    reported: list[CaseResult] = []
    with caplog.at_level(logging.INFO, logger="harness"):
        results = run_group(group("no-filter", "member-deny"), tmp_path, options(tmp_path),
                            reported.append, boot=boots)
    assert boots.count == 1  # not the machinery's fault: a fresh L1 would not help
    assert [r.outcome for r in results] == [Outcome.ERROR, Outcome.ERROR]
    assert [r.error_class for r in results] == [error_class, error_class]
    assert [r.reason for r in results] == [reason, reason]
    assert reported == results
    bug_logged = [r for r in caplog.records if r.levelno == logging.ERROR
                  and "harness bug" in r.getMessage()]
    if error_class is ErrorClass.HARNESS_BUG:
        (logged,) = bug_logged
        shown = logging.Formatter().format(logged)  # as a handler prints it
        assert "Traceback" in shown and type(raised).__name__ in shown
    else:
        assert bug_logged == []


def test_a_harness_bug_mid_group_keeps_the_results_before_it(tmp_path: Path) -> None:
    class Buggy(ReplayRemote):
        def run(self, command: str, timeout: float) -> CommandResult:
            if "member-deny" in command:
                raise ZeroDivisionError("division by zero")
            return super().run(command, timeout)

    boots = Boots([Buggy(CAPTURES)])
    reported: list[CaseResult] = []
    results = run_group(group("no-filter", "member-deny", "cycle-counter-deny"), tmp_path,
                        options(tmp_path), reported.append, boot=boots)
    assert outcomes(results) == [("no-filter[max,debian-6.1,probe]", Outcome.PASS),
                                 ("member-deny[max,debian-6.1,probe]", Outcome.ERROR),
                                 ("cycle-counter-deny[max,debian-6.1,probe]", Outcome.ERROR)]
    assert [r.error_class for r in results[1:]] == [ErrorClass.HARNESS_BUG] * 2
    assert reported == results  # each case reported once
    assert boots.events == ["boot 1", "shutdown 1"]


# -- (e) the worker pool: a worker past its deadline --------------------------------------------


def test_a_worker_past_its_deadline_is_stopped_and_its_finished_cases_keep_their_verdicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real worker process that gets stuck: its group fails to find its machine profile
    # (no profiles in `machines_dir`), it sends the first case's result and then wedges
    # (`in_worker` never returns). Its deadline is shrunk from minutes to 10 s: an order of
    # magnitude more than a spawned worker takes to start and send, even on a loaded host.
    shrink_pool_deadlines(monkeypatch, 10.0)
    (tmp_path / "machines").mkdir()
    stuck = group("no-filter", "member-deny")
    arrived: list[str] = []
    results = run_groups([stuck], tmp_path / "run",
                         RunOptions(machines_dir=tmp_path / "machines"), 1,
                         lambda r: arrived.append(r.name), stuck_progress).results
    assert multiprocessing.active_children() == []  # stopped and reaped
    # The first case's result left the worker before it wedged: it is kept as judged.
    assert outcomes(results) == [("no-filter[max,debian-6.1,probe]", Outcome.ERROR),
                                 ("member-deny[max,debian-6.1,probe]", Outcome.NOT_RUN)]
    assert results[0].error_class is ErrorClass.SCENARIO_ERROR
    assert results[1].error_class is ErrorClass.TIMEOUT
    assert results[1].reason == "not run: its group passed its deadline"
    assert arrived == [r.name for r in results]  # each reached the parent as it came
    note = (tmp_path / "run" / "debian-6.1-max" / "not-run.txt").read_text()
    assert "passed its deadline of 10 s" in note


# -- shared controls ----------------------------------------------------------------------


def test_cases_asking_the_same_control_share_one_run_and_keep_its_files(tmp_path: Path) -> None:
    remote = ReplayRemote(CAPTURES)
    results = run_group(group("no-filter", "member-deny", "cycle-counter-deny"), tmp_path,
                        options(tmp_path), lambda result: None, boot=Boots([remote]))
    assert [r.outcome for r in results] == [Outcome.PASS] * 3
    # no-filter and member-deny run the same workload on the same single vCPU;
    # cycle-counter-deny counts no event, only the cycle counter: its control is its own.
    assert remote.probe_runs() == ["no-filter-probe/control", "no-filter-probe/filtered",
                                   "member-deny-probe/filtered",
                                   "cycle-counter-deny-probe/control",
                                   "cycle-counter-deny-probe/filtered"]
    group_dir = str(Path(str(results[0].artefacts)).parent)
    source, borrower = Path(group_dir, "no-filter-probe"), Path(group_dir, "member-deny-probe")
    for name in ("control.filter", "control.probe.json", "control.probe.stdout"):
        assert (borrower / name).read_bytes() == (source / name).read_bytes()
    note = (borrower / "control.shared-from.txt").read_text()
    assert "by no-filter-probe" in note and "workload 0x11,0x0 cycles=1" in note
    assert not (source / "control.shared-from.txt").exists()
    assert not Path(group_dir, "cycle-counter-deny-probe", "control.shared-from.txt").exists()


def test_own_controls_run_every_cases_control(tmp_path: Path) -> None:
    remote = ReplayRemote(CAPTURES)
    own = RunOptions(image_set=image_set(tmp_path / "images"), share_controls=False)
    run_group(group("no-filter", "member-deny"), tmp_path, own, lambda result: None,
              boot=Boots([remote]))
    assert remote.probe_runs() == ["no-filter-probe/control", "no-filter-probe/filtered",
                                   "member-deny-probe/control", "member-deny-probe/filtered"]
