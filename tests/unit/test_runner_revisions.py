"""A case on a source-built revision of the series, driven through ``CaseRunner`` with the
probe's real output (captured from filter-base, filter-v1 and filter-v3 on max) in place of
L1: each revision is judged by its own prediction, and the scenario as written by the final
API's."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.kernelrules import KernelVersion
from harness.l2.remote import CommandResult, Remote
from harness.machine.profile import load_machine_profile
from harness.observation import Observation, parse_probe_output
from harness.paths import SCENARIOS_DIR
from harness.runner import Case, CaseRunner, Environment, pmu_model
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario
from harness.verdict import Outcome

DATA = Path(__file__).parent / "data" / "revisions"


class NoL1:
    """The replayed probe never reaches L1: any use of it is a bug in the test."""

    def run(self, command: str, timeout: float) -> CommandResult:
        raise AssertionError(f"L1 used: {command}")

    def put(self, local: Path, remote: str, timeout: float = 0.0) -> None:
        raise AssertionError(f"L1 used: {remote}")


def environment(revision: str, tmp_path: Path) -> Environment:
    return Environment(remote=NoL1(), pmu=pmu_model(load_machine_profile("max")),
                       kernel_version=KernelVersion.parse("5.10.223-1"), group_dir=tmp_path,
                       revision=revision)


def scenario(ident: str) -> Scenario:
    (found,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return found


def replay(revision: str) -> CaseRunner:
    def probe(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path
              ) -> Observation:
        label = "filtered" if filtered else "control"
        path = DATA / f"{revision}-max-cycle-counter-deny.{label}.json"
        return parse_probe_output(path.read_text(), source=str(path))
    return CaseRunner(l2_runners={"probe": probe})


def run_case(revision: str, tmp_path: Path) -> tuple[Outcome, Outcome | None, tuple[str, ...]]:
    env = environment(revision, tmp_path)
    case = Case(scenario("cycle-counter-deny"), "max", f"filter-{revision}", "probe")
    result = replay(revision).run(case, env)
    final = result.final_api
    assert result.kernel_revision == revision
    return (result.outcome, final.outcome if final else None,
            final.differs if final else ())


def test_base_passes_its_own_prediction_and_fails_the_final_api(tmp_path: Path) -> None:
    own, final, differs = run_case("base", tmp_path)
    assert (own, final) == (Outcome.PASS, Outcome.FAIL)
    assert differs == ("errno of filter call 1 (line 8: deny [0x11, 0x12) via vCPU 0)",
                       "guest PMCEID0", "counter cycle_counter")
    assert (tmp_path / "cycle-counter-deny-probe" / "oracle-final-api.json").is_file()


def test_v1_keeps_pmccntr_counting_and_pmceid_unmasked(tmp_path: Path) -> None:
    own, final, differs = run_case("v1", tmp_path)
    assert (own, final) == (Outcome.PASS, Outcome.FAIL)
    assert differs == ("guest PMCEID0", "counter cycle_counter")


def test_v3_is_judged_once(tmp_path: Path) -> None:
    assert run_case("v3", tmp_path) == (Outcome.PASS, None, ())


@pytest.mark.parametrize("wrong", ["base", "v3"])
def test_a_revision_that_does_not_do_what_it_says_fails(wrong: str, tmp_path: Path) -> None:
    # v1's real output judged as if the kernel were base or v3: must fail its own verdict.
    env = environment(wrong, tmp_path)
    case = Case(scenario("cycle-counter-deny"), "max", "filter-x", "probe")
    assert replay("v1").run(case, env).outcome is Outcome.FAIL
