"""Timings kept between runs for planning (harness/execute/estimates.py); nothing boots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.execute.balance import split_for_jobs
from harness.execute.estimates import (
    MODE_ESTIMATES,
    Estimates,
    GroupTiming,
    load_estimates,
    measured,
    record,
)
from harness.execute.pool import _start_order
from harness.results import Outcome
from tests.unit.test_balance import always, group


def test_a_debug_kernel_that_was_slow_last_time_starts_first() -> None:
    # The nightly of 6 Dec: filter-v3-oob-fix-debug on cortex-a57 has 64 probe cases
    # (~19 s by the modes' figures) but took 56 s (kmemleak scans); it started last and
    # ran alone for a minute. Measured, it starts before the 36 s debian-5.10 one.
    debug, plain = group("cortex-a57", 64, 0, kernel="filter-v3-oob-fix-debug"), \
        group("cortex-a57", 120, 0, kernel="debian-5.10")
    assert [g.kernel for _, g in _start_order([debug, plain])] == ["debian-5.10",
                                                                   "filter-v3-oob-fix-debug"]
    learned = Estimates({"filter-v3-oob-fix-debug/cortex-a57": GroupTiming(36.0,
                                                                             {"probe": 0.3})})
    assert [g.kernel for _, g in _start_order([debug, plain], learned)] == [
        "filter-v3-oob-fix-debug", "debian-5.10"]


def test_a_part_pays_its_l1s_setup() -> None:
    # 20 linux cases at 6 s and a 10 s setup (130 s) against 64 probe cases (19.2 s),
    # share 74.6 s: the first part gets the setup and 10 cases (70 s; an 11th makes 76).
    long, short = group("max", 0, 20), group("cortex-a57", 64, 0)
    learned = Estimates({"debian-6.1/max": GroupTiming(10.0, {"linux": 6.0})})
    parts = split_for_jobs([long, short], 2, always, learned)
    assert [len(p.cases) for p in parts] == [10, 10, 64]


def test_what_a_run_measured_is_kept_and_read_back(tmp_path: Path) -> None:
    long, short = group("max", 2, 1), group("cortex-a57", 3, 0)
    results = [c.result(Outcome.PASS, "") for c in (*long.cases, *short.cases)]
    seconds = {"max": [0.2, 0.4, 5.0], "cortex-a57": [0.1, 0.3, 0.2]}
    timed = [replace(r, seconds=seconds[r.machine].pop(0)) for r in results]
    found = measured([long, short], timed, {0: 9.6, 1: 2.6})
    assert found["debian-6.1/max"].per_case == {"probe": pytest.approx(0.3),
                                                "linux": pytest.approx(5.0)}
    assert found["debian-6.1/max"].setup == pytest.approx(9.6 - 5.6)
    assert found["debian-6.1/cortex-a57"].setup == pytest.approx(2.0)
    path = tmp_path / "timings" / "groups.json"
    record(found, path)
    again = load_estimates(path)
    assert again.case_seconds(long.cases[2]) == pytest.approx(5.0)
    assert again.group_seconds(short) == pytest.approx(2.0 + 3 * 0.2)
    # A later run of one kernel x machine replaces that one and keeps the other.
    record({"debian-6.1/max": GroupTiming(1.0, {"probe": 0.5})}, path)
    merged = load_estimates(path)
    assert merged.setup_seconds(long) == 1.0 and merged.setup_seconds(short) == 2.0
    assert [p.name for p in path.parent.iterdir()] == ["groups.json"]


def test_a_group_cut_short_teaches_nothing() -> None:
    one = group("max", 2, 0)
    results = [one.cases[0].result(Outcome.PASS, ""), one.cases[1].result(Outcome.NOT_RUN, "")]
    assert measured([one], results, {0: 5.0}) == {}
    assert measured([one], [one.cases[0].result(Outcome.PASS, "")], {}) == {}


@pytest.mark.parametrize("text", [
    "", "{", "[]", '{"format": 2, "groups": {}}', '{"format": 1, "groups": []}',
    '{"format": 1, "groups": {"a/b": {"setup": -1, "per_case": {}}}}',
    '{"format": 1, "groups": {"a/b": {"setup": NaN, "per_case": {}}}}',
    '{"format": 1, "groups": {"a/b": {"setup": 1, "per_case": {"probe": true}}}}',
    '{"format": 1, "groups": {"a/b": {"setup": 1, "per_case": {"probe": 1e300}}}}',
    '{"format": 1, "groups": {"a/b": {"setup": "1", "per_case": {}}}}',
])
def test_an_odd_file_is_ignored(tmp_path: Path, text: str) -> None:
    path = tmp_path / "groups.json"
    path.write_text(text)
    assert load_estimates(path).known.get("a/b") is None
    assert load_estimates(tmp_path / "missing.json") is MODE_ESTIMATES


def test_an_unknown_mode_in_the_file_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "groups.json"
    path.write_text(json.dumps({"format": 1, "groups": {
        "debian-6.1/max": {"setup": 1.5, "per_case": {"probe": 0.2, "../../etc": 9}}}}))
    timing = load_estimates(path).known["debian-6.1/max"]
    assert dict(timing.per_case) == {"probe": 0.2}


def test_a_file_that_cannot_be_written_is_only_logged(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    record({"debian-6.1/max": GroupTiming(1.0, {"probe": 0.5})}, blocked / "groups.json")
    assert blocked.read_text() == "not a directory"
