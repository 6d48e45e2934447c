"""How long each kernel x machine took last time: what the next run plans its order and its
parts with (harness/execute/balance.py), never a verdict or a deadline.

A mode's fixed ``seconds_per_case`` cannot see that a debug build scans kmemleak for a
minute per L1, that a VHE L1 of a source kernel boots cold, or that linux cases take twice
as long on one kernel as on another: with those unseen, the nightly started its debug
groups last and ended on one of them running alone for a minute. So every run that ends
keeps, per kernel x machine, the median seconds of a case per mode and what one L1 cost
beyond its cases (boot or restore, kmemleak scans, the control runs), in
``<cache>/timings/groups.json``. A kernel x machine never run here falls back to the
modes' figures. The file is only advice: one that is missing, unreadable or odd is ignored
(logged), and it is replaced whole (written aside, then renamed) so two runs ending
together leave one of their records, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.modes import REGISTRY
from harness.paths import cache_dir
from harness.plan import Case, Group
from harness.results import CaseResult, Outcome

log = logging.getLogger(__name__)

SECTION = "timings"
FILE_NAME = "groups.json"
FORMAT = 1
# Past these a figure is not a timing but a broken record; it is ignored.
MAX_SECONDS = 24 * 3600.0
MAX_ENTRIES = 10_000
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class GroupTiming:
    """One kernel x machine as last run: one L1's cost beyond its cases, and a case's
    median seconds per mode."""

    setup: float
    per_case: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"setup": round(self.setup, 2),
                "per_case": {m: round(s, 3) for m, s in sorted(self.per_case.items())}}


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number <= MAX_SECONDS else None


def _timing(raw: object) -> GroupTiming | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("per_case"), dict):
        return None
    setup = _seconds(raw.get("setup"))
    per_case = {m: _seconds(s) for m, s in raw["per_case"].items() if m in REGISTRY}
    if setup is None or any(s is None for s in per_case.values()):
        return None
    return GroupTiming(setup, {m: s for m, s in per_case.items() if s is not None})


@dataclass(frozen=True)
class Estimates:
    """Estimated seconds of cases and groups: measured where known, else the modes'."""

    known: Mapping[str, GroupTiming] = field(default_factory=dict)

    @staticmethod
    def key(kernel: str, machine: str) -> str:
        return f"{kernel}/{machine}"

    def case_seconds(self, case: Case) -> float:
        timing = self.known.get(self.key(case.kernel, case.machine))
        if timing is not None and case.mode in timing.per_case:
            return timing.per_case[case.mode]
        return REGISTRY[case.mode].seconds_per_case

    def setup_seconds(self, group: Group) -> float:
        timing = self.known.get(self.key(group.kernel, group.machine))
        return timing.setup if timing is not None else 0.0

    def group_seconds(self, group: Group) -> float:
        """One L1's setup and every case of ``group``."""
        return self.setup_seconds(group) + sum(self.case_seconds(c) for c in group.cases)


MODE_ESTIMATES = Estimates()


def estimates_path() -> Path:
    return cache_dir() / SECTION / FILE_NAME


def load_estimates(path: Path | None = None) -> Estimates:
    """What earlier runs measured; the modes' figures alone when there is nothing usable."""
    path = path or estimates_path()
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return MODE_ESTIMATES
    except (OSError, ValueError) as exc:
        log.info("pmu-harness: ignoring %s (%s); planning with the modes' estimates",
                 path, exc)
        return MODE_ESTIMATES
    groups = data.get("groups") if isinstance(data, dict) and \
        data.get("format") == FORMAT else None
    if not isinstance(groups, dict) or len(groups) > MAX_ENTRIES:
        log.info("pmu-harness: ignoring %s (not format %d)", path, FORMAT)
        return MODE_ESTIMATES
    known = {k: t for k, raw in groups.items()
             if isinstance(k, str) and (t := _timing(raw)) is not None}
    return Estimates(known)


def measured(groups: Iterable[Group], results: Iterable[CaseResult],
             group_wall: Mapping[int, float]) -> dict[str, GroupTiming]:
    """Per kernel x machine, from the groups (or parts) that ran to the end: the median
    case seconds per mode, and the median of each L1's wall time minus its cases'."""
    # Only cases that ran to a verdict: an error's time is a retry's or a deadline's.
    seconds = {r.name: r.seconds for r in results
               if r.outcome not in (Outcome.NOT_RUN, Outcome.ERROR)}
    setups: dict[str, list[float]] = {}
    per_mode: dict[str, dict[str, list[float]]] = {}
    for index, group in enumerate(groups):
        if index not in group_wall:
            continue
        timed = [(c, seconds[c.name]) for c in group.cases if c.name in seconds]
        if len(timed) != len(group.cases):
            continue  # cut short: its wall time says nothing about the whole
        key = Estimates.key(group.kernel, group.machine)
        setups.setdefault(key, []).append(max(0.0, group_wall[index] -
                                              sum(s for _, s in timed)))
        for case, case_seconds in timed:
            per_mode.setdefault(key, {}).setdefault(case.mode, []).append(case_seconds)
    return {key: GroupTiming(statistics.median(setups[key]),
                             {m: statistics.median(v) for m, v in per_mode[key].items()})
            for key in setups}


def record(timings: Mapping[str, GroupTiming], path: Path | None = None) -> None:
    """Merge ``timings`` into the file (they replace what it said of the same kernel x
    machine); a failure to write is logged, never raised: a run's verdicts do not depend
    on it."""
    if not timings:
        return
    path = path or estimates_path()
    merged = {**load_estimates(path).known, **timings}
    data = {"format": FORMAT, "groups": {k: t.to_json() for k, t in sorted(merged.items())}}
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data, indent=1) + "\n")
        temporary.replace(path)
    except OSError as exc:
        log.warning("pmu-harness: could not keep the run's timings in %s: %s", path, exc)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
