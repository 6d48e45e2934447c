"""Long groups cut into parts, so that ``-j N`` machines finish together.

A group is every case of one kernel x machine, run one after another in one L1. When one
group holds most of a run's work (README's main job: debian-6.1 on max carries all eleven
linux cases, ~90 s against ~20 s for cortex-a57), the other workers finish early and wait.
A group whose estimated time is well past an even share of the run is cut into parts, each
run in its own L1: the first part fills a worker up to that share, what is left is planned
like any other group. Parts are contiguous slices of the group's cases, so results come
out in the group's order.

A part costs an L1 of its own: a restore from the group's snapshot (about a second), plus
the control run its linux cases no longer share with the other part's (harness/execute/
control.py; a few seconds). So only groups whose L1 is restored are cut: with snapshots off,
or on a kernel built here (a VHE L1 of a 5.10 source kernel cannot be snapshot, and a debug
build scans kmemleak once per L1, ~70 s), every part would pay a cold boot or a scan. And
since the run's first L1 of a kernel x machine may have to boot cold and save the snapshot,
later parts start after every first part (``start_rank``): by then the snapshot is there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from harness.execute.estimates import MODE_ESTIMATES, Estimates
from harness.plan import Group

# Below this (estimated seconds), a part would cost about as much as it saves.
PART_MIN_SECONDS = 30.0


def start_rank(group: Group, estimates: Estimates = MODE_ESTIMATES) -> tuple[bool, float]:
    """Sort key for starting groups: first parts before later ones, longest first."""
    return group.part > 0, -estimates.group_seconds(group)


def _cut(group: Group, room: float, estimates: Estimates) -> tuple[Group, Group]:
    """The leading cases that fit in ``room`` with the L1's setup (at least one case) as
    this part, and the rest as the next part (never empty)."""
    taken, seconds = 0, estimates.setup_seconds(group)
    for case in group.cases[:-1]:
        cost = estimates.case_seconds(case)
        if taken and seconds + cost > room:
            break
        taken, seconds = taken + 1, seconds + cost
    head = replace(group, cases=group.cases[:taken])
    return head, replace(group, cases=group.cases[taken:], part=group.part + 1)


def _parts(group: Group, loads: list[float], share: float,
           estimates: Estimates) -> list[Group]:
    """``group`` as parts, each added to the least loaded worker's estimate in ``loads``."""
    parts: list[Group] = []
    rest = group
    while True:
        worker = loads.index(min(loads))
        room, seconds = share - loads[worker], estimates.group_seconds(rest)
        if seconds - room < PART_MIN_SECONDS or room < PART_MIN_SECONDS:
            loads[worker] += seconds
            return [*parts, rest]
        head, rest = _cut(rest, room, estimates)
        loads[worker] += estimates.group_seconds(head)
        parts.append(head)


def split_for_jobs(groups: Sequence[Group], jobs: int, restorable: Callable[[Group], bool],
                   estimates: Estimates = MODE_ESTIMATES) -> list[Group]:
    """``groups`` with the long ones cut into parts for ``jobs`` workers, in their order
    (a group's parts next to each other); ``restorable`` says whether a group's L1 would
    be restored from a snapshot (only those are cut)."""
    if jobs <= 1 or not groups:
        return list(groups)
    share = sum(estimates.group_seconds(g) for g in groups) / jobs
    loads = [0.0] * jobs
    cut: dict[int, list[Group]] = {}
    for index, group in sorted(enumerate(groups),
                               key=lambda item: -estimates.group_seconds(item[1])):
        if restorable(group):
            cut[index] = _parts(group, loads, share, estimates)
        else:
            loads[loads.index(min(loads))] += estimates.group_seconds(group)
            cut[index] = [group]
    return [part for index in range(len(groups)) for part in cut[index]]
