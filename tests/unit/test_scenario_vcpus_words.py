"""Issue 12's additions to the scenario language: which vCPUs measure (`measure`, `expect
vcpus`), whole PMCEID words (`pmceid0`/`pmceid1`, written or `derive`) and SET_PMU steps,
with every mistake reported at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.filterfile import parse, render
from harness.scenario.model import Scenario, SetPmuStep
from harness.scenario.parse import parse_scenario

BASE = """\
id: t
description: d
vcpus: 2
{top}
filters:
{filters}
workload:
  events: [CPU_CYCLES]
{expect}
"""


def scenario_text(top: str = "", filters: str = "  - deny: 0x11", expect: str = "") -> str:
    return BASE.format(top=top, filters=filters, expect=expect)


def parsed(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return parse_scenario(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(UsageError) as info:
        parsed(tmp_path, text)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("top", "measure"), [("", (0,)), ("measure: all", (0, 1)),
                                              ("measure: [1]", (1,)),
                                              ("measure: [1, 0]", (1, 0))])
def test_measure(tmp_path: Path, top: str, measure: tuple[int, ...]) -> None:
    scenario = parsed(tmp_path, scenario_text(top))
    assert scenario.measure == measure
    # The control and the filtered run measure alike: the line is in both files.
    for with_filters in (True, False):
        assert parse(render(scenario, with_filters=with_filters)).measure == measure


@pytest.mark.parametrize(("top", "expect", "line", "words"), [
    ("measure: [2]", "", 4, "2 is outside 0..1"),
    ("measure: [1, 1]", "", 4, "listed twice"),
    ("measure: []", "", 4, "at least one vCPU"),
    ("measure: every", "", 4, "expected a list"),
    ("measure: [1]\nno_pmu_vcpus: [1]", "", 5, "vCPU 1 runs the measurement"),
    ("measure: [0]", "expect:\n  vcpus: [1]", 9, "vCPU 1 is not measured"),
])
def test_measure_mistakes(tmp_path: Path, top: str, expect: str, line: int,
                          words: str) -> None:
    found = problems(tmp_path, scenario_text(top, expect=expect))
    assert any(f":{line}: " in p and words in p for p in found), found


def test_expectations_may_name_their_vcpus(tmp_path: Path) -> None:
    scenario = parsed(tmp_path, scenario_text("measure: all", expect="expect:\n  vcpus: [1]"))
    assert scenario.expect.vcpus == (1,)
    assert scenario.expect.holds_for(1) and not scenario.expect.holds_for(0)


def test_pmceid_words(tmp_path: Path) -> None:
    expect = "expect:\n  pmceid0: 0x40000001\n  pmceid1: 0xffffffffffffffff"
    words = parsed(tmp_path, scenario_text(expect=expect)).expect
    assert (words.pmceid0, words.pmceid1) == (0x40000001, (1 << 64) - 1)
    assert not words.says_nothing_of_pmceid and not words.derive_words


def test_a_word_written_derive_is_asked_for(tmp_path: Path) -> None:
    expect = "expect:\n  pmceid1: derive\n  pmceid_absent: [CPU_CYCLES]"
    words = parsed(tmp_path, scenario_text(expect=expect)).expect
    assert words.derive_words == frozenset({1}) and words.pmceid1 is None
    assert parsed(tmp_path, scenario_text()).expect.says_nothing_of_pmceid


@pytest.mark.parametrize(("value", "words"), [("0x10000000000000000", "is outside"),
                                              ("-1", "is outside"), ("CPU_CYCLES",
                                                                     "expected an integer")])
def test_pmceid_word_mistakes(tmp_path: Path, value: str, words: str) -> None:
    found = problems(tmp_path, scenario_text(expect=f"expect:\n  pmceid0: {value}"))
    assert any(":10: expect pmceid0" in p and words in p for p in found), found


def test_set_pmu_steps(tmp_path: Path) -> None:
    filters = "  - set_pmu: 1\n  - set_pmu: 0\n    pmu: other"
    scenario = parsed(tmp_path, scenario_text(filters=filters))
    assert scenario.steps == (SetPmuStep(1, "host", 6), SetPmuStep(0, "other", 7))
    assert "set-pmu 1 host\nset-pmu 0 other\n" in render(scenario)
    assert [s.describe() for s in parse(render(scenario)).steps] == [
        s.describe() for s in scenario.steps]


@pytest.mark.parametrize(("filters", "line", "words"), [
    ("  - set_pmu: 0\n    pmu: mine", 7, "expected one of host, other, got 'mine'"),
    ("  - deny: 0x11\n    pmu: host", 7, "`pmu:` belongs to a set_pmu step"),
    ("  - init: 0\n    pmu: host", 7, "`pmu:` belongs to a set_pmu step"),
    ("  - set_pmu: 2", 6, "set_pmu vCPU: 0x2 is outside"),
])
def test_set_pmu_mistakes(tmp_path: Path, filters: str, line: int, words: str) -> None:
    found = problems(tmp_path, scenario_text(filters=filters))
    assert any(f":{line}: " in p and words in p for p in found), found
