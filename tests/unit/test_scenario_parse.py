"""The scenario language: what parses, and how every mistake is reported."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import modes
from harness.cli import main
from harness.errors import UsageError
from harness.paths import SCENARIOS_DIR
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Action, FilterCall, InitStep, RunStep
from harness.scenario.parse import parse_scenario

BROKEN = Path(__file__).parent.parent / "data" / "broken"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(UsageError) as info:
        parse_scenario(path, known_machines={"max", "cortex-a57"})
    return [str(p) for p in info.value.problems]


MINIMAL = """\
id: t
description: d
filters:
{filters}
workload:
  events: [CPU_CYCLES]
"""


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("- deny: CPU_CYCLES", (0x11, 1, Action.DENY)),
        ("- allow: 0x11", (0x11, 1, Action.ALLOW)),
        ("- allow: 17", (0x11, 1, Action.ALLOW)),
        ("- allow: '0x20-0x3f'", (0x20, 0x20, Action.ALLOW)),
        ("- deny: SW_INCR-CPU_CYCLES", (0x00, 0x12, Action.DENY)),
        ("- allow: {base: 0x11, nevents: 0}", (0x11, 0, Action.ALLOW)),
        ("- allow: {base: CPU_CYCLES, nevents: 2}", (0x11, 2, Action.ALLOW)),
        ("- raw: {base: 1, nevents: 1, action: 7}", (1, 1, 7)),
        # The selftest's overflowing range: only the kernel may refuse it (EINVAL).
        ("- raw: {base: 0x8000, nevents: 0x8001, action: 0}", (0x8000, 0x8001, 0)),
        ("- raw: {base: 0xffff, nevents: 0xffff, action: 255}", (0xFFFF, 0xFFFF, 255)),
        ("- deny: 0xffff", (0xFFFF, 1, Action.DENY)),
    ],
)
def test_filter_forms(tmp_path: Path, entry: str, expected: tuple[int, int, int]) -> None:
    scenario = parse_scenario(write(tmp_path, MINIMAL.format(filters="  " + entry)))
    (call,) = scenario.filter_calls
    assert (call.base, call.nevents, call.action) == expected
    assert call.line == 4


def test_ordering_steps_keep_their_order(tmp_path: Path) -> None:
    text = MINIMAL.format(filters="  - init: 0\n  - run: 0\n  - deny: 0x11\n    vcpu: 1")
    scenario = parse_scenario(write(tmp_path, "vcpus: 2\n" + text))
    assert [type(s) for s in scenario.steps] == [InitStep, RunStep, FilterCall]
    assert scenario.filter_calls[0].vcpu == 1


def test_defaults(tmp_path: Path) -> None:
    scenario = parse_scenario(write(tmp_path, MINIMAL.format(filters="  - deny: 0x11")))
    assert scenario.machines is None and scenario.kernels is None
    assert scenario.modes == ("probe",)
    assert scenario.control is True
    assert scenario.expect.errnos is None and scenario.expect.counting is None
    assert scenario.workload.loops > 0


def test_filters_none_means_no_filter(tmp_path: Path) -> None:
    text = MINIMAL.format(filters="").replace("filters:\n", "filters: none\n")
    assert parse_scenario(write(tmp_path, text)).steps == ()


def test_every_problem_of_a_file_is_reported_with_its_line() -> None:
    found = problems_of(BROKEN / "many-problems.yaml")
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)
    assert any(":8: " in p and "did you mean CPU_CYCLES" in p for p in found)
    assert any(":9: " in p and "past 0xffff" in p for p in found)
    assert any(":6: " in p and "unknown key 'filtres'" in p for p in found)
    assert any(":4: " in p and "cortex-a75" in p for p in found)
    assert any(":20: " in p and "EWHAT" in p for p in found)
    # A count mismatch caused only by broken entries would be noise: not reported.
    assert not any("given for" in p for p in found)


def test_yaml_syntax_error_points_where_the_construct_started() -> None:
    (problem,) = problems_of(BROKEN / "bad-yaml.yaml")
    assert problem.startswith(f"{BROKEN / 'bad-yaml.yaml'}:2: invalid YAML")


def test_empty_filter_list_is_refused() -> None:
    (problem,) = problems_of(BROKEN / "empty-filters.yaml")
    assert ":3: " in problem and "filters: none" in problem


def test_duplicate_keys_are_an_error(tmp_path: Path) -> None:
    text = "id: a\nid: b\n" + MINIMAL.format(filters="  - deny: 1").split("\n", 1)[1]
    (problem,) = problems_of(write(tmp_path, text))
    assert ":2: " in problem and "duplicate key 'id'" in problem


def test_linux_mode_refuses_ordering_steps(tmp_path: Path) -> None:
    text = "modes: [linux]\n" + MINIMAL.format(filters="  - init: 0\n  - deny: 0x11")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem == (
        f"{tmp_path / 's.yaml'}:1: modes: linux mode cannot run ordering steps: it applies "
        "the filters just before the first PMU init of a guest whose every vCPU has a PMU "
        "(the preload in L2's QEMU); probe mode can")


def test_linux_mode_names_everything_it_cannot_run(tmp_path: Path) -> None:
    text = ("modes: [probe, linux]\nvcpus: 2\nno_pmu_vcpus: [1]\n"
            + MINIMAL.format(filters="  - init: 0\n  - deny: 0x11"))
    (problem,) = problems_of(write(tmp_path, text))
    assert "modes: linux mode cannot run ordering steps, no_pmu_vcpus: " in problem


def test_a_modes_limits_come_from_the_registry(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    # A new mode's limits are its own entry's, with no edit of the parser.
    probe = modes.REGISTRY["probe"]
    two = dataclasses.replace(probe, name="two", default=False,
                              can=modes.Capabilities(max_vcpus=2, why="it has two"))
    monkeypatch.setattr(modes, "REGISTRY", {**modes.REGISTRY, "two": two})
    monkeypatch.setattr(modes, "MODES", (*modes.MODES, "two"))
    text = "modes: [two]\nvcpus: 3\n" + MINIMAL.format(filters="  - deny: 0x11")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith("modes: two mode cannot run 3 vCPUs (at most 2): it has two; "
                            "probe or linux mode can")


def test_errno_count_must_match_calls(tmp_path: Path) -> None:
    text = MINIMAL.format(filters="  - deny: 0x11") + "expect:\n  errnos: [OK, EBUSY]\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "2 given for 1 filter call" in problem


def test_starter_scenarios_are_valid() -> None:
    scenarios = load_scenarios([SCENARIOS_DIR])
    assert len(scenarios) >= 17
    assert len({s.id for s in scenarios}) == len(scenarios)
    assert all(s.control for s in scenarios)


def test_validate_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SCENARIOS_DIR)]) == 0
    assert main(["validate", str(BROKEN)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "nothing was run" in err


def test_list_by_tag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--tag", "masking"]) == 0
    out = capsys.readouterr().out
    assert "member-deny" in out and "filter-after-run" not in out
