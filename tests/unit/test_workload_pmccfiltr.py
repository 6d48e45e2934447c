"""Issue 22's workload additions: the value the guest writes to PMCCFILTR_EL0 (`pmccfiltr`)
and event numbers past an ARMv8.0 PMU's 10 bits, from the scenario file through the filter
file, with every mistake reported at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.filterfile import parse, render
from harness.scenario.model import Scenario
from harness.scenario.parse import parse_scenario

TEXT = """\
id: t
description: d
{top}
filters:
  - allow: INST_RETIRED
workload:
  events: {events}
  cycle_counter: {cycles}
{extra}
"""


def scenario_text(*, events: str = "[CPU_CYCLES]", cycles: str = "true", extra: str = "",
                  top: str = "") -> str:
    return TEXT.format(events=events, cycles=cycles, extra=extra, top=top)


def parsed(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return parse_scenario(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        parse_scenario(path)
    return [str(p) for p in info.value.problems]


def test_pmccfiltr_defaults_to_zero(tmp_path: Path) -> None:
    assert parsed(tmp_path, scenario_text()).workload.pmccfiltr == 0


@pytest.mark.parametrize("written, value", [("0x08", 0x08), ("8", 8), ("0xffff", 0xFFFF)])
def test_pmccfiltr_takes_the_event_field(tmp_path: Path, written: str, value: int) -> None:
    text = scenario_text(extra=f"  pmccfiltr: {written}")
    assert parsed(tmp_path, text).workload.pmccfiltr == value


@pytest.mark.parametrize("written, words", [
    ("0x10000", "sets bits 0x10000; only the event field"),
    ("0x80000000", "sets bits 0x80000000; only the event field"),  # P: no EL1 counting
    ("0xc8000008", "sets bits 0xc8000000"),
    ("0x100000000", "outside 0x0..0xffffffff"),
    ("yes", "expected an integer, got True"),
])
def test_pmccfiltr_refuses_more_than_the_event_field(tmp_path: Path, written: str,
                                                     words: str) -> None:
    found = problems(tmp_path, scenario_text(extra=f"  pmccfiltr: {written}"))
    assert len(found) == 1
    assert ":9: workload pmccfiltr: " in found[0]
    assert words in found[0]


def test_pmccfiltr_needs_the_cycle_counter(tmp_path: Path) -> None:
    found = problems(tmp_path, scenario_text(cycles="false", extra="  pmccfiltr: 0x08"))
    assert len(found) == 1
    assert ":9: workload pmccfiltr: PMCCFILTR only matters to the cycle counter" in found[0]


def test_linux_mode_refuses_a_written_pmccfiltr(tmp_path: Path) -> None:
    found = problems(tmp_path, scenario_text(extra="  pmccfiltr: 0x08",
                                             top="modes: [probe, linux]"))
    assert len(found) == 1
    assert ":3: modes: linux mode cannot run a workload pmccfiltr" in found[0]
    assert "probe mode can" in found[0]


def test_linux_mode_runs_a_pmccfiltr_of_zero(tmp_path: Path) -> None:
    text = scenario_text(extra="  pmccfiltr: 0", top="modes: [linux]")
    assert parsed(tmp_path, text).modes == ("linux",)


def test_event_numbers_past_10_bits_are_accepted(tmp_path: Path) -> None:
    text = scenario_text(events="[0x411, 0x400, 0xffff]", cycles="false")
    assert parsed(tmp_path, text).workload.events == (0x411, 0x400, 0xFFFF)


def test_event_numbers_past_16_bits_are_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, scenario_text(events="[0x10000]", cycles="false"))
    assert len(found) == 1
    assert ":7: workload events: event number: 0x10000 is outside 0x0..0xffff" in found[0]


def test_the_filter_file_carries_pmccfiltr(tmp_path: Path) -> None:
    scenario = parsed(tmp_path, scenario_text(events="[0x411, 0x400]",
                                              extra="  pmccfiltr: 0x08"))
    text = render(scenario)
    assert "workload 0x411,0x400 cycles=1 loops=2000 pmccfiltr=0x8\n" in text
    # The unfiltered control writes the same PMCCFILTR: only the filter differs.
    assert "pmccfiltr=0x8\n" in render(scenario, with_filters=False)
    assert parse(text).workload == scenario.workload


def test_a_pmccfiltr_of_zero_leaves_the_workload_line_as_it_was(tmp_path: Path) -> None:
    text = render(parsed(tmp_path, scenario_text()))
    assert "workload 0x11 cycles=1 loops=2000\n" in text


@pytest.mark.parametrize("option, message", [
    ("pmccfiltr=0x10000", ":2: pmccfiltr '0x10000' is not a number in 0..65535"),
    ("pmccfiltr=", ":2: pmccfiltr '' is not a number in 0..65535"),
    ("pmccfiltr=-1", ":2: pmccfiltr '-1' is not a number in 0..65535"),
])
def test_the_filter_file_reader_refuses_a_bad_pmccfiltr(option: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(f"pmu-harness-filter 1\nworkload 0x11 cycles=1 {option}\n")
    assert str(info.value.problems[0]).endswith(message)
