"""A case on a source-built revision of the series, driven through ``run_case`` with an L1
that replays the probe's real output (captured from filter-base, filter-v1 and filter-v3 on
max): the real probe runner renders and sends the filter files and parses what comes back.
Each revision is judged by its own prediction, and the scenario as written by the final
API's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.execute.case import Environment, pmu_model, run_case
from harness.filterfile import render
from harness.kernelrules import KernelVersion
from harness.machine.profile import load_machine_profile
from harness.paths import SCENARIOS_DIR
from harness.plan import Case
from harness.results import CaseResult, Outcome
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario
from tests.unit.fakes import REVISIONS, Capture, ReplayRemote

SLUG = "cycle-counter-deny-probe"


def scenario(ident: str) -> Scenario:
    (found,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return found


def replay(revision: str) -> ReplayRemote:
    """L1 answering the probe with what it printed on the kernel of ``revision``."""
    captured = {label: REVISIONS / f"{revision}-max-cycle-counter-deny.{label}.json"
                for label in ("control", "filtered")}
    return ReplayRemote({SLUG: Capture(captured["filtered"], captured["control"])})


def run(captured: str, revision: str, kernel: str, tmp_path: Path
        ) -> tuple[CaseResult, ReplayRemote]:
    """cycle-counter-deny on max, on a 5.10.223 kernel built with ``revision``, with L1
    replaying what the probe printed on the kernel of revision ``captured``."""
    remote = replay(captured)
    # The group directory is named as a run names it: the L1 paths match the captured ones.
    env = Environment(remote=remote, pmu=pmu_model(load_machine_profile("max")),
                      kernel_version=KernelVersion.parse("5.10.223-1"),
                      group_dir=tmp_path / f"{kernel}-max", revision=revision)
    case = Case(scenario("cycle-counter-deny"), "max", kernel, "probe")
    return run_case(case, env), remote


def verdicts(revision: str, tmp_path: Path) -> tuple[Outcome, Outcome | None, tuple[str, ...]]:
    result, _ = run(revision, revision, f"filter-{revision}", tmp_path)
    final = result.final_api
    assert result.kernel_revision == revision
    return (result.outcome, final.outcome if final else None,
            final.differs if final else ())


def test_the_probe_runner_sends_the_scenarios_filter_files_and_reads_the_capture(
        tmp_path: Path) -> None:
    result, remote = run("base", "base", "filter-base", tmp_path)
    case_dir = tmp_path / "filter-base-max" / SLUG
    assert result.artefacts == str(case_dir) and result.kernel_version == "5.10.223"
    # The control first (no filter), then the filtered run, each file sent before it runs,
    # to the paths the capture itself names.
    assert remote.probe_runs() == [f"{SLUG}/control", f"{SLUG}/filtered"]
    expected = {"control": render(scenario("cycle-counter-deny"), with_filters=False),
                "filtered": render(scenario("cycle-counter-deny"))}
    for label, text in expected.items():
        capture = json.loads((REVISIONS / f"base-max-cycle-counter-deny.{label}.json")
                             .read_text())
        assert remote.files[capture["filter_file"]] == text
        assert (case_dir / f"{label}.filter").read_text() == text
        assert json.loads((case_dir / f"{label}.probe.json").read_text()) == capture
    # What the oracle predicted for this revision, and for the final API.
    assert (case_dir / "oracle.json").is_file()
    assert (case_dir / "oracle-final-api.json").is_file()
    assert json.loads((case_dir / "verdict.json").read_text()) == result.to_json()


def test_base_passes_its_own_prediction_and_fails_the_final_api(tmp_path: Path) -> None:
    own, final, differs = verdicts("base", tmp_path)
    assert (own, final) == (Outcome.PASS, Outcome.FAIL)
    # base has no FILTER attribute: KVM_HAS_DEVICE_ATTR says ENXIO where v3 says 0.
    assert differs == ("KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0",
                       "errno of filter call 1 (line 8: deny [0x11, 0x12) via vCPU 0)",
                       "guest PMCEID0", "counter cycle_counter")


def test_v1_keeps_pmccntr_counting_and_pmceid_unmasked(tmp_path: Path) -> None:
    own, final, differs = verdicts("v1", tmp_path)
    assert (own, final) == (Outcome.PASS, Outcome.FAIL)
    assert differs == ("guest PMCEID0", "counter cycle_counter")


def test_v3_is_judged_once(tmp_path: Path) -> None:
    assert verdicts("v3", tmp_path) == (Outcome.PASS, None, ())
    assert not (tmp_path / "filter-v3-max" / SLUG / "oracle-final-api.json").exists()


@pytest.mark.parametrize("wrong", ["base", "v3"])
def test_a_revision_that_does_not_do_what_it_says_fails(wrong: str, tmp_path: Path) -> None:
    # v1's real output judged as if the kernel were base or v3: must fail its own verdict.
    result, _ = run("v1", wrong, "filter-x", tmp_path)
    assert result.outcome is Outcome.FAIL
    assert any(c.outcome is Outcome.FAIL for c in result.checks)
