"""Parse ``perf stat -x,`` output (CSV mode) into typed counts.

perf prints one line per event: value, unit, event, run time (ns), percentage of the run
the event was scheduled (below 100 when counters were multiplexed), then optional metric
fields. The value is ``<not supported>`` when the PMU refused the event (a masked generic
event in a filtered guest) and ``<not counted>`` when it never got a counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PerfStatus(Enum):
    COUNTED = "counted"
    NOT_SUPPORTED = "not supported"
    NOT_COUNTED = "not counted"


@dataclass(frozen=True)
class PerfCount:
    event: str
    value: float | None
    status: PerfStatus
    unit: str
    run_time_ns: int | None
    enabled_percent: float | None

    @property
    def counts(self) -> bool:
        return self.status is PerfStatus.COUNTED and bool(self.value)

    @property
    def integer_value(self) -> int | None:
        return None if self.value is None else int(self.value)


_STATUS = {
    "<not supported>": PerfStatus.NOT_SUPPORTED,
    "<not counted>": PerfStatus.NOT_COUNTED,
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _parse_line(line: str) -> PerfCount | None:
    fields = line.split(",")
    if len(fields) < 3 or not fields[2]:
        return None
    raw_value, unit, event = fields[0].strip(), fields[1].strip(), fields[2].strip()
    status = _STATUS.get(raw_value, PerfStatus.COUNTED)
    value = _number(raw_value) if status is PerfStatus.COUNTED else None
    if status is PerfStatus.COUNTED and value is None:
        return None
    run_time = _number(fields[3]) if len(fields) > 3 else None
    enabled = _number(fields[4]) if len(fields) > 4 else None
    return PerfCount(event, value, status, unit,
                     int(run_time) if run_time is not None else None, enabled)


def parse_perf_stat(text: str) -> list[PerfCount]:
    """Every event line of ``perf stat -x,``; comments, blanks and prose are skipped."""
    counts = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parsed = _parse_line(line)
        if parsed is not None:
            counts.append(parsed)
    return counts
