"""Parsers of what L2 prints, on real consoles captured from a linux-mode run (6.1, max)."""

from __future__ import annotations

from pathlib import Path

from harness.events import CPU_CYCLES
from harness.l2.console import parse_l2_console, section
from harness.perfstat import PerfStatus, parse_perf_stat

DATA = Path(__file__).parent.parent / "data" / "l2"


def console(name: str) -> str:
    return (DATA / f"6.1-max-member-deny-{name}.console").read_text()


def test_control_console_counts_cycles_on_both_counters() -> None:
    report = parse_l2_console(console("control"))
    assert report is not None and report.perf_status == 0
    counts = {c.event: c for c in report.perf}
    assert counts["r11"].counts and counts["cycles"].counts
    assert counts["r0"].status is PerfStatus.COUNTED and not counts["r0"].counts
    assert report.sysfs_events["cpu_cycles"] == CPU_CYCLES


def test_filtered_console_shows_masking_both_ways() -> None:
    report = parse_l2_console(console("filtered"))
    assert report is not None
    counts = {c.event: c for c in report.perf}
    assert counts["cycles"].status is PerfStatus.NOT_SUPPORTED  # masked generic event
    assert counts["cycles"].value is None
    assert counts["r11"].status is PerfStatus.COUNTED and counts["r11"].value == 0  # masked raw
    assert "cpu_cycles" not in report.sysfs_events


def test_incomplete_console_is_no_report() -> None:
    text = console("control")
    truncated = text[: text.index("PMU-HARNESS-PERF-END")]
    assert parse_l2_console(truncated) is None
    assert section(text, "NOPE") is None


def test_perf_lines_of_every_kind() -> None:
    text = "\n".join([
        "# started on ...",
        "12.50,msec,task-clock,12500000,100.00,0.999,CPUs utilized",
        "73478827,,r11,100025074,100.00,,",
        "<not supported>,,cycles,0,100.00,,",
        "<not counted>,,r8,0,0.00,,",
        "5000,,r23,50000000,49.87,,",
        "Some prose perf printed",
        "",
    ])
    parsed = {c.event: c for c in parse_perf_stat(text)}
    assert set(parsed) == {"task-clock", "r11", "cycles", "r8", "r23"}
    assert parsed["task-clock"].unit == "msec" and parsed["task-clock"].value == 12.5
    assert parsed["r8"].status is PerfStatus.NOT_COUNTED and not parsed["r8"].counts
    assert parsed["r23"].enabled_percent == 49.87  # multiplexed
    assert parsed["r11"].run_time_ns == 100025074
