"""Parse the L2 Linux guest's console (guest-images/l2/init prints marked sections)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.perfstat import PerfCount, parse_perf_stat

EVENT_LINE = re.compile(r"^(\S+)\s+(\S+)\s+event=0x([0-9a-fA-F]+)")
STATUS_LINE = re.compile(r"PMU-HARNESS-PERF-STATUS=(\d+)")


@dataclass(frozen=True)
class L2Report:
    sysfs_events: dict[str, int]  # sysfs name -> event number
    perf: list[PerfCount]
    perf_status: int | None
    perf_text: str


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


def parse_l2_console(text: str) -> L2Report | None:
    """What L2 reported, or None when it never got as far as printing both sections."""
    events_text, perf_text = section(text, "EVENTS"), section(text, "PERF")
    if events_text is None or perf_text is None:
        return None
    events = {}
    for line in events_text.splitlines():
        match = EVENT_LINE.match(line.strip())
        if match:
            events[match.group(2)] = int(match.group(3), 16)
    status = STATUS_LINE.search(text)
    return L2Report(events, parse_perf_stat(perf_text),
                    int(status.group(1)) if status else None, perf_text)
