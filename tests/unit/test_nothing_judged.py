"""Green means something was judged: a run that judged no case, an unknown tag, and what
`validate` now catches before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import EXIT_INFRA, EXIT_NOTHING_JUDGED, EXIT_USAGE
from harness.paths import SCENARIOS_DIR

ICOUNT_ONLY = SCENARIOS_DIR / "inst-retired-icount.yaml"  # machines: [max-icount]


def test_a_run_whose_every_case_is_skipped_is_not_green(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path))
    assert main(["run", str(ICOUNT_ONLY), "--machine", "max"]) == EXIT_NOTHING_JUDGED
    err = capsys.readouterr()
    assert "0 pass, 0 fail, 0 error, 0 inconclusive, 1 skip" in err.out
    (results,) = tmp_path.glob("*/results.json")
    (skip,) = json.loads(results.read_text())["results"]
    assert skip["reason"] == "scenario runs on machine max-icount, not max"


def test_under_bisect_a_run_that_judged_nothing_skips_the_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path))
    assert main(["run", "--bisect", str(ICOUNT_ONLY), "--machine", "max"]) == EXIT_INFRA
    assert "no case was judged on this commit" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["list"], ["run"]])
def test_an_unknown_tag_is_an_error_naming_the_known_ones(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path))
    assert main([*command, "--tag", "smok"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown tag 'smok'; did you mean 'smoke'?" in err
    assert "errno" in err and "selftest-parity" in err  # the known ones


def test_tags_that_no_scenario_carries_together_list_nothing_and_say_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--tag", "icount", "--tag", "set-pmu"]) == EXIT_USAGE
    assert "no scenario carries every tag of: icount, set-pmu" in capsys.readouterr().err


SCENARIO = """\
id: runtime-only
description: what used to fail or err only once running
filters:
  - deny: CPU_CYCLES
workload:
  events: [CPU_CYCLES]
expect:
  counting: [CPU_CYCLES, INST_RETIRED]
  not_counting: [CPU_CYCLES, cycle_counter]
"""


def test_validate_catches_what_could_only_fail_at_run_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    assert main(["validate", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [
        f"{path}:7: expect: CPU_CYCLES both in counting and in not_counting",
        f"{path}:7: expect: counter INST_RETIRED is not programmed by the workload (it "
        "programs CPU_CYCLES); add it to `workload: events:`",
        f"{path}:7: expect: counter cycle_counter is not programmed by the workload (it "
        "programs CPU_CYCLES); add it to `workload: events:` or set `cycle_counter: true`"]


def test_a_misspelt_key_gets_a_did_you_mean_and_nothing_else(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("filters:", "filtres:").replace(", INST_RETIRED", "")
                    .replace("[CPU_CYCLES, cycle_counter]", "[cycle_counter]")
                    .replace("events: [CPU_CYCLES]", "events: [CPU_CYCLES]\n  cycle_counter: true"))
    assert main(["validate", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}:3: scenario: unknown key 'filtres'; did you mean "
                             "'filters'? (expected one of id, ")
    assert err[1:] == ["pmu-harness: 1 problem(s); nothing was run"]  # no "missing filters"


def test_messages_name_no_internal_types(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("id: runtime-only", "id: [a, list]"))
    assert main(["validate", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "id: expected a non-empty string, got a list" in err
    assert "Located" not in err
