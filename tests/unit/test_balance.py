"""Cutting long groups into parts for -j N (harness/execute/balance.py); nothing boots."""

from __future__ import annotations

from harness.execute.balance import split_for_jobs, start_rank
from harness.execute.pool import _start_order
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, Group
from harness.scenario.discover import load_scenarios

SCENARIOS = sorted(load_scenarios([SCENARIOS_DIR]), key=lambda s: s.id)


def group(machine: str, probe: int, linux: int, kernel: str = "debian-6.1") -> Group:
    """``probe`` probe cases then ``linux`` linux cases, as a plan lists them."""
    cases = [Case(s, machine, kernel, "probe") for s in SCENARIOS[:probe]]
    cases += [Case(s, machine, kernel, "linux") for s in SCENARIOS[:linux]]
    return Group(machine, kernel, tuple(cases))


def always(_: Group) -> bool:
    return True


def test_the_main_jobs_long_group_is_cut_where_it_fills_one_worker() -> None:
    # README's main job: 76 probe + 11 linux cases on max, 64 probe on cortex-a57. At 0.3 s
    # a probe case and 6 s a linux one: 88.8 s against 19.2 s, an even share 54 s. The
    # first part takes the probe cases and five linux ones (52.8 s; a sixth would pass 54).
    long, short = group("max", 76, 11), group("cortex-a57", 64, 0)
    parts = split_for_jobs([long, short], 2, always)
    assert [(p.machine, p.part, len(p.cases)) for p in parts] == [
        ("max", 0, 81), ("max", 1, 6), ("cortex-a57", 0, 64)]
    assert parts[0].cases + parts[1].cases == long.cases
    assert [p.directory(SCENARIOS_DIR).name for p in parts] == [
        "debian-6.1-max", "debian-6.1-max-part2", "debian-6.1-cortex-a57"]


def test_later_parts_start_after_every_first_part() -> None:
    # The first L1 of a kernel x machine may boot cold and save the snapshot the others
    # restore: the second part of max waits for cortex-a57 to start.
    parts = split_for_jobs([group("max", 76, 11), group("cortex-a57", 64, 0)], 2, always)
    assert [(g.machine, g.part) for _, g in _start_order(parts)] == [
        ("max", 0), ("cortex-a57", 0), ("max", 1)]
    assert start_rank(parts[1]) > start_rank(parts[2])


def test_nothing_is_cut_for_one_worker_or_an_l1_that_boots_cold() -> None:
    groups = [group("max", 76, 11), group("cortex-a57", 64, 0)]
    assert split_for_jobs(groups, 1, always) == groups
    assert split_for_jobs(groups, 2, lambda g: False) == groups
    assert split_for_jobs(groups, 2, lambda g: g.machine != "max") == groups


def test_groups_that_already_fill_the_workers_evenly_stay_whole() -> None:
    # Two equal linux-heavy groups on two workers, and a nightly-like spread of many.
    pair = [group("max", 10, 10), group("max", 10, 10, kernel="debian-6.12")]
    assert split_for_jobs(pair, 2, always) == pair
    many = [group("max", 75, 19, kernel=k) for k in ("debian-5.10", "debian-6.1",
                                                      "debian-6.12", "debian-latest")]
    many += [group("cortex-a57", 64, 0, kernel=k) for k in ("debian-5.10", "debian-6.1")]
    assert split_for_jobs(many, 2, always) == many


def test_a_small_overflow_is_not_worth_an_l1() -> None:
    # 20 linux cases (120 s) and 30 probe cases (9 s) on two workers: share 64.5 s. The
    # long one overflows it by 55.5 s, past PART_MIN_SECONDS (30 s): cut after 10 cases.
    long, short = group("max", 0, 20), group("cortex-a57", 30, 0)
    parts = split_for_jobs([long, short], 2, always)
    assert [len(p.cases) for p in parts] == [10, 10, 30]
    # 66 s and 54 s: the long one overflows the share (60 s) by one linux case, 6 s.
    a, b = group("max", 0, 11), group("cortex-a57", 0, 9)
    assert split_for_jobs([a, b], 2, always) == [a, b]
