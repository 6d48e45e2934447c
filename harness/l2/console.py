"""Parse the L2 Linux guest's console (guest-images/l2/init prints marked sections)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.perfstat import PerfCount, parse_perf_stat

EVENT_LINE = re.compile(r"^(\S+)\s+(\S+)\s+event=0x([0-9a-fA-F]+)")
STATUS_LINE = re.compile(r"PMU-HARNESS-PERF-STATUS cpu=(\d+) status=(\d+)")


@dataclass(frozen=True)
class CpuReport:
    """What ``perf stat`` counted with the workload pinned to one CPU."""

    cpu: int
    perf: list[PerfCount]
    perf_status: int | None
    perf_text: str


@dataclass(frozen=True)
class L2Report:
    sysfs_events: dict[str, int]  # sysfs name -> event number
    cpus: dict[int, CpuReport]  # every CPU that was asked for


def section(text: str, name: str) -> str | None:
    """Lines between PMU-HARNESS-<name>-BEGIN and -END; None when the section is missing."""
    begin, end = f"PMU-HARNESS-{name}-BEGIN", f"PMU-HARNESS-{name}-END"
    lines = text.replace("\r", "").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == begin]
    if not starts:
        return None
    body: list[str] = []
    for line in lines[starts[-1] + 1:]:
        if line.strip() == end:
            return "\n".join(body)
        body.append(line)
    return None


def parse_l2_console(text: str, cpus: tuple[int, ...]) -> L2Report | None:
    """What L2 reported, or None when it never got as far as printing the event list and a
    perf section for every CPU in ``cpus``."""
    events_text = section(text, "EVENTS")
    if events_text is None:
        return None
    events = {}
    for line in events_text.splitlines():
        match = EVENT_LINE.match(line.strip())
        if match:
            events[match.group(2)] = int(match.group(3), 16)
    statuses = {int(m.group(1)): int(m.group(2)) for m in STATUS_LINE.finditer(text)}
    reports = {}
    for cpu in cpus:
        perf_text = section(text, f"PERF-CPU{cpu}")
        if perf_text is None:
            return None
        reports[cpu] = CpuReport(cpu, parse_perf_stat(perf_text), statuses.get(cpu), perf_text)
    return L2Report(events, reports)
