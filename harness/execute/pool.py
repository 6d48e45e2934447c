"""The worker pool (``-j N``): up to N L1 machines at once, one worker process per group.

Processes, not threads: Ctrl-C reaches every worker through the terminal's process group and
each unwinds its own L1 (QMP quit, reap) exactly as a sequential run does, and a worker that
dies takes only its own group down. Every worker dies with the harness (PDEATHSIG), and its
QEMU dies with it, so not even SIGKILL leaves a machine behind.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from harness.execute.balance import start_rank
from harness.execute.estimates import MODE_ESTIMATES, Estimates
from harness.execute.group import Progress, run_group
from harness.machine.process import parent_death_signal
from harness.modes import REGISTRY
from harness.plan import Group, RunOptions
from harness.results import CaseResult, NotRun, Outcome, not_run

log = logging.getLogger(__name__)

# How long a stopped worker gets to shut its L1 down before it is killed.
STOP_GRACE_SECONDS = 60.0
POLL_SECONDS = 30.0
# A worker's deadline: image checks and L1 boots (with retries), plus each case's deadline
# from its mode (harness.modes).
GROUP_SETUP_SECONDS = 900.0


def _start_order(groups: Sequence[Group], estimates: Estimates = MODE_ESTIMATES
                 ) -> list[tuple[int, Group]]:
    """Longest first, so the long groups do not end up running alone at the end; a long
    group's later parts after every first part (harness/execute/balance.py)."""
    return sorted(enumerate(groups), key=lambda item: start_rank(item[1], estimates))


def _stop_once(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C reaches a worker twice (terminal, then the harness passing it on): the second
    # must not cut short the clean-up the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def _worker(conn: Connection, group: Group, run_dir: Path, options: RunOptions,
            log_level: int, in_worker: Progress | None) -> None:
    parent_death_signal(signal.SIGTERM)
    _log_like_the_parent(log_level)
    signal.signal(signal.SIGINT, _stop_once)
    signal.signal(signal.SIGTERM, _stop_once)

    def send(result: CaseResult) -> None:
        # Each result leaves as soon as it is judged: whatever happens to this worker
        # later, the parent has it (and has journalled it).
        conn.send((RESULT, result))
        if in_worker is not None:
            in_worker(result)

    try:
        run_group(group, run_dir, options, send)
        conn.send((DONE, None))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        conn.close()


RESULT, DONE = "result", "done"


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
    """One worker at work on one group, when it must have finished, and the results it
    has sent so far."""

    index: int
    group: Group
    process: BaseProcess
    conn: Connection
    deadline: float
    results: list[CaseResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def rest(self, why: NotRun) -> list[CaseResult]:
        """The group's cases that have no result, as not run and why."""
        done = {r.name for r in self.results}
        return [not_run(c.result(Outcome.NOT_RUN, ""), why)
                for c in self.group.cases if c.name not in done]


def group_deadline_seconds(group: Group) -> float:
    """Generous, but finite: a worker past it is stuck, not slow."""
    return GROUP_SETUP_SECONDS + sum(REGISTRY[c.mode].case_deadline_seconds
                                     for c in group.cases)


def _start(context: SpawnContext, index: int, group: Group, run_dir: Path,
           options: RunOptions, in_worker: Progress | None) -> _Running:
    ours, theirs = context.Pipe(duplex=False)
    process: BaseProcess = context.Process(target=_worker, name=f"pmu-harness-{index}",
                                           args=(theirs, group, run_dir, options,
                                                 logging.getLogger("harness")
                                                 .getEffectiveLevel(), in_worker))
    process.start()
    theirs.close()
    return _Running(index, group, process, ours,
                    time.monotonic() + group_deadline_seconds(group))


def _note(worker: _Running, run_dir: Path, what: str) -> None:
    """Why a group's cases were not run, kept in its directory beside its L1's logs."""
    group_dir = worker.group.directory(run_dir)
    with contextlib.suppress(OSError):
        group_dir.mkdir(parents=True, exist_ok=True)
        (group_dir / "not-run.txt").write_text(
            f"the worker for {worker.group.kernel}/{worker.group.machine} {what}\n")
    log.warning("pmu-harness: the worker for %s/%s %s", worker.group.kernel,
                worker.group.machine, what)


def _stop(workers: Iterable[_Running], progress: Progress) -> None:
    workers = list(workers)
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        _drain(worker, progress)
        worker.process.join(STOP_GRACE_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(STOP_GRACE_SECONDS)
        _drain(worker, progress)
        worker.conn.close()


def _drain(worker: _Running, progress: Progress) -> None:
    """Every result a stopping worker sent before it stopped: a case it finished keeps
    its verdict."""
    with contextlib.suppress(EOFError, OSError, ValueError, pickle.UnpicklingError):
        while worker.conn.poll(0):
            _receive(worker, progress)


def _receive(worker: _Running, progress: Progress) -> bool:
    """One message from a worker; True when it said it is done."""
    kind, payload = worker.conn.recv()
    if kind == DONE:
        return True
    worker.results.append(payload)
    progress(payload)
    return False


def _read(worker: _Running, run_dir: Path, progress: Progress) -> list[CaseResult] | None:
    """What a worker with something to say said: its group's results once it is done
    or gone, else None (it goes on)."""
    try:
        if not _receive(worker, progress):
            return None
    except EOFError:
        worker.process.join(STOP_GRACE_SECONDS)
        _note(worker, run_dir, f"died (exit status {worker.process.exitcode}) with "
                               f"{len(worker.group.cases) - len(worker.results)} case(s) "
                               "not run")
        lost = worker.rest(NotRun.WORKER_LOST)
        for result in lost:
            progress(result)
        worker.conn.close()
        return worker.results + lost
    worker.conn.close()
    worker.process.join(STOP_GRACE_SECONDS)
    return worker.results


def _overdue(running: dict[Connection, _Running], run_dir: Path, progress: Progress
             ) -> dict[int, list[CaseResult]]:
    late = [w for w in running.values() if time.monotonic() > w.deadline]
    _stop(late, progress)
    finished = {}
    for worker in late:
        del running[worker.conn]
        _note(worker, run_dir, f"passed its deadline of "
                               f"{group_deadline_seconds(worker.group):.0f} s and was stopped")
        rest = worker.rest(NotRun.DEADLINE)
        for result in rest:
            progress(result)
        finished[worker.index] = worker.results + rest
    return finished


@dataclass(frozen=True)
class PoolResult:
    """Every group's results, and whether the run was interrupted (SIGINT, SIGTERM)."""

    results: list[CaseResult]
    interrupted: bool = False
    # Each group's wall time (its index in ``groups``), for those whose worker ended by
    # itself: what the next run's plan learns from (harness/execute/estimates.py).
    group_seconds: dict[int, float] = field(default_factory=dict)

    def unless_interrupted(self) -> list[CaseResult]:
        """The results, for a front end that has nothing to report from part of a run
        (``rerun``, ``mutants``): interrupted, it stops as before."""
        if self.interrupted:
            raise KeyboardInterrupt("interrupted")
        return self.results


def run_groups(groups: Sequence[Group], run_dir: Path, options: RunOptions, jobs: int,
               progress: Progress, in_worker: Progress | None = None,
               estimates: Estimates = MODE_ESTIMATES) -> PoolResult:
    """Every group's results, in the order of ``groups`` whatever order they finished in;
    ``progress`` is called in this process with each result as it arrives (each leaves
    its worker as soon as it is judged). Interrupted, the cases that finished keep their
    verdicts and the rest are "not run", each with why.

    Even one group runs in a worker: only a process can be stopped wherever it is stuck
    (a wait with no timeout, a vCPU wedged in KVM_RUN), so only a worker gives the run an
    overall deadline."""
    context = multiprocessing.get_context("spawn")
    waiting = _start_order(groups, estimates)
    running: dict[Connection, _Running] = {}
    finished: dict[int, list[CaseResult]] = {}
    walls: dict[int, float] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                worker = _start(context, *waiting.pop(0), run_dir, options, in_worker)
                running[worker.conn] = worker
            for ready in wait(list(running), timeout=POLL_SECONDS):
                assert isinstance(ready, Connection)
                results = _read(running[ready], run_dir, progress)
                if results is not None:
                    done = running.pop(ready)
                    finished[done.index] = results
                    walls[done.index] = time.monotonic() - done.started
            finished.update(_overdue(running, run_dir, progress))
    except KeyboardInterrupt:
        return PoolResult(_interrupted(groups, running, finished, progress), True)
    except BaseException:
        _stop(running.values(), progress)
        raise
    return PoolResult([r for i in range(len(groups)) for r in finished[i]],
                      group_seconds=walls)


def _interrupted(groups: Sequence[Group], running: dict[Connection, _Running],
                 finished: dict[int, list[CaseResult]], progress: Progress
                 ) -> list[CaseResult]:
    """Stop every worker (a second Ctrl-C must not cut that short), keep what they sent,
    and list every case without a result as not run because the run was interrupted."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _stop(running.values(), progress)
    finally:
        signal.signal(signal.SIGINT, previous)
    for worker in running.values():
        finished[worker.index] = worker.results + worker.rest(NotRun.INTERRUPTED)
    results = []
    for index, group in enumerate(groups):
        got = {r.name: r for r in finished.get(index, [])}
        results += [got.get(c.name) or not_run(c.result(Outcome.NOT_RUN, ""),
                                               NotRun.INTERRUPTED)
                    for c in group.cases]
    return results
