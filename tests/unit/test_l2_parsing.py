"""Parsers of what L2 prints, on real consoles captured from a linux-mode run: debian-6.1 on
max, scenario filter-seen-from-vcpu1 (a DENY of CPU_CYCLES, 2 vCPUs, both measured)."""

from __future__ import annotations

from pathlib import Path

from harness.events import CPU_CYCLES
from harness.l2.console import parse_l2_console, section
from harness.perfstat import PerfStatus, parse_perf_stat

DATA = Path(__file__).parent.parent / "data" / "l2"
BOTH = (0, 1)


def console(name: str) -> str:
    return (DATA / f"6.1-max-filter-seen-from-vcpu1-{name}.console").read_text()


def test_control_console_counts_cycles_on_every_vcpu() -> None:
    report = parse_l2_console(console("control"), BOTH)
    assert report is not None and set(report.cpus) == {0, 1}
    for cpu in BOTH:
        assert report.cpus[cpu].perf_status == 0
        counts = {c.event: c for c in report.cpus[cpu].perf}
        assert counts["r11"].counts and counts["cycles"].counts
        assert counts["r0"].status is PerfStatus.COUNTED and not counts["r0"].counts
    # Each CPU's own count, not one section read twice.
    assert report.cpus[0].perf[0].value == 423024165
    assert report.cpus[1].perf[0].value == 379800736
    assert report.sysfs_events["cpu_cycles"] == CPU_CYCLES


def test_filtered_console_shows_masking_on_every_vcpu() -> None:
    report = parse_l2_console(console("filtered"), BOTH)
    assert report is not None
    for cpu in BOTH:
        counts = {c.event: c for c in report.cpus[cpu].perf}
        assert counts["cycles"].status is PerfStatus.NOT_SUPPORTED  # masked generic event
        assert counts["cycles"].value is None
        assert counts["r11"].status is PerfStatus.COUNTED and counts["r11"].value == 0
    assert "cpu_cycles" not in report.sysfs_events
    assert report.sysfs_events["stall"] == 0x3C


def test_a_cpu_without_its_section_is_no_report() -> None:
    text = console("control")
    assert parse_l2_console(text, (0, 1, 2)) is None  # CPU 2 was never measured
    truncated = text[: text.index("PMU-HARNESS-PERF-CPU1-END")]
    assert parse_l2_console(truncated, BOTH) is None
    assert parse_l2_console(truncated, (0,)) is not None
    assert parse_l2_console(text[: text.index("PMU-HARNESS-EVENTS-END")], (0,)) is None
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
