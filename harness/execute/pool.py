"""The worker pool (``-j N``): up to N L1 machines at once, one worker process per group.

Processes, not threads: Ctrl-C reaches every worker through the terminal's process group and
each unwinds its own L1 (QMP quit, reap) exactly as a sequential run does, and a worker that
dies takes only its own group down. Every worker dies with the harness (PDEATHSIG), and its
QEMU dies with it, so not even SIGKILL leaves a machine behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from harness.errors import InfraError
from harness.execute.case import group_error
from harness.execute.group import Progress, run_group
from harness.machine.process import parent_death_signal
from harness.modes import REGISTRY
from harness.plan import Group, RunOptions
from harness.results import CaseResult, ErrorClass

# One L1 runs single-vCPU work most of the time (the probe and L2 use one vCPU), and needs
# its profile's memory plus QEMU's own: this is what a default -j budgets per machine.
GIB_PER_L1 = 4
# How long a stopped worker gets to shut its L1 down before it is killed.
STOP_GRACE_SECONDS = 60.0
POLL_SECONDS = 30.0
# A worker's deadline: image checks and L1 boots (with retries), plus each case's deadline
# from its mode (harness.modes).
GROUP_SETUP_SECONDS = 900.0


def default_jobs() -> int:
    """What this host allows: one L1 per core, as far as memory goes."""
    cores = len(os.sched_getaffinity(0))
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        by_memory = max(1, pages // (GIB_PER_L1 << 30))
    except (ValueError, OSError):
        by_memory = 1
    return max(1, min(cores, by_memory))


def _start_order(groups: Sequence[Group]) -> list[tuple[int, Group]]:
    """Longest first, so the long groups do not end up running alone at the end."""
    def cost(item: tuple[int, Group]) -> float:
        return sum(REGISTRY[c.mode].seconds_per_case for c in item[1].cases)
    return sorted(enumerate(groups), key=cost, reverse=True)


def _stop_once(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C reaches a worker twice (terminal, then the harness passing it on): the second
    # must not cut short the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def _worker(conn: Connection, group: Group, run_dir: Path, options: RunOptions,
            progress: Progress, log_level: int) -> None:
    parent_death_signal(signal.SIGTERM)
    _log_like_the_parent(log_level)
    signal.signal(signal.SIGINT, _stop_once)
    signal.signal(signal.SIGTERM, _stop_once)
    try:
        conn.send(run_group(group, run_dir, options, progress))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        conn.close()


# What a worker logs to its stderr (the terminal's): the front end's level for the harness's
# loggers, in the CLI's plain format. Only the level crosses the process boundary: a
# handler's formatter may hold what does not pickle (a stream, under pytest).
WORKER_LOG_FORMAT = "%(message)s"


def _log_like_the_parent(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(WORKER_LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    logging.getLogger("harness").setLevel(level)


@dataclass
class _Running:
    """One worker at work on one group, and when it must have finished."""

    index: int
    group: Group
    process: BaseProcess
    conn: Connection
    deadline: float


def group_deadline_seconds(group: Group) -> float:
    """Generous, but finite: a worker past it is stuck, not slow."""
    return GROUP_SETUP_SECONDS + sum(REGISTRY[c.mode].case_deadline_seconds
                                     for c in group.cases)


def _start(context: SpawnContext, index: int, group: Group, run_dir: Path,
           options: RunOptions, progress: Progress) -> _Running:
    ours, theirs = context.Pipe(duplex=False)
    process: BaseProcess = context.Process(target=_worker, name=f"pmu-harness-{index}",
                                           args=(theirs, group, run_dir, options, progress,
                                                 logging.getLogger("harness")
                                                 .getEffectiveLevel()))
    process.start()
    theirs.close()
    return _Running(index, group, process, ours,
                    time.monotonic() + group_deadline_seconds(group))


def _lost(worker: _Running, run_dir: Path, why: str,
          error_class: ErrorClass = ErrorClass.INFRASTRUCTURE) -> list[CaseResult]:
    group = worker.group
    group_dir = group.directory(run_dir)
    group_dir.mkdir(parents=True, exist_ok=True)
    exc = InfraError(f"the worker for {group.kernel}/{group.machine} {why}",
                     log_path=group_dir)
    return group_error(group, exc, group_dir, error_class)


def _stop(workers: Iterable[_Running]) -> None:
    workers = list(workers)
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        worker.process.join(STOP_GRACE_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(STOP_GRACE_SECONDS)
        worker.conn.close()


def _collect(worker: _Running, run_dir: Path) -> list[CaseResult]:
    try:
        results: list[CaseResult] = worker.conn.recv()
    except EOFError:
        worker.process.join(STOP_GRACE_SECONDS)
        return _lost(worker, run_dir,
                     f"died (exit status {worker.process.exitcode}) before reporting")
    finally:
        worker.conn.close()
    worker.process.join(STOP_GRACE_SECONDS)
    return results


def _overdue(running: dict[Connection, _Running], run_dir: Path
             ) -> dict[int, list[CaseResult]]:
    late = [w for w in running.values() if time.monotonic() > w.deadline]
    _stop(late)
    for worker in late:
        del running[worker.conn]
    return {w.index: _lost(w, run_dir, f"passed its deadline of "
                                        f"{group_deadline_seconds(w.group):.0f} s and was stopped",
                           ErrorClass.TIMEOUT)
            for w in late}


def run_groups(groups: Sequence[Group], run_dir: Path, options: RunOptions, jobs: int,
               progress: Progress) -> list[CaseResult]:
    """Every group's results, in the order of ``groups`` whatever order they finished in.

    Even one group runs in a worker: only a process can be stopped wherever it is stuck
    (a wait with no timeout, a vCPU wedged in KVM_RUN), so only a worker gives the run an
    overall deadline."""
    context = multiprocessing.get_context("spawn")
    waiting = _start_order(groups)
    running: dict[Connection, _Running] = {}
    finished: dict[int, list[CaseResult]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                worker = _start(context, *waiting.pop(0), run_dir, options, progress)
                running[worker.conn] = worker
            for ready in wait(list(running), timeout=POLL_SECONDS):
                assert isinstance(ready, Connection)
                worker = running.pop(ready)
                finished[worker.index] = _collect(worker, run_dir)
            finished.update(_overdue(running, run_dir))
    except BaseException:
        _stop(running.values())
        raise
    return [r for i in range(len(groups)) for r in finished[i]]
