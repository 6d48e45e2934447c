"""Run one ``pmu-harness`` runnable: one case, in its own L1, as one avocado test.

avocado's process spawner starts ``avocado-runner-pmu-harness task-run ...`` (or ``python -m
harness.avocado_plugins.runner``) per test. The case runs in this process's main thread, so
the signals that stop it reach the code that owns the machines:

- the test's own deadline (``timeout``: SIGALRM) and avocado stopping the task (SIGTERM on
  its ``task.timeout.running``, SIGKILL a second later) or Ctrl-C (SIGINT) all become one
  KeyboardInterrupt: ``run_group`` unwinds, shutting L1 down and reaping QEMU; later signals
  are ignored so they cannot cut that short. Should the unwind not finish (SIGKILL), QEMU
  dies with the thread that started it (PDEATHSIG), so no machine outlives its test.
- on the deadline the test is reported ``interrupted`` with the reason; when avocado stopped
  it, avocado reports it (a second "finished" message from here could be counted twice).

The error class maps onto avocado results (``results.CLASSES``): pass and skip as themselves,
a kernel failure as ``fail``, the rest as ``error`` (a deadline ``interrupted``, a stop from
outside ``cancel``), with ``fail_class`` ``pmu-harness <class>``. The checks, expected vs
observed, go to the test's log and the verdict (``CaseResult.to_json``) to its whiteboard;
the harness artefacts (L1 console and QEMU logs, per-case ``verdict.json``, ...) to
``<job>/pmu-harness/<test>``, linked from the test's directory (see ``artefacts_dir``).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import logging
import os
import signal
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar

from avocado.core.nrunner.app import BaseRunnerApp
from avocado.core.nrunner.runner import BaseRunner
from avocado.core.utils import messages

from harness.avocado_plugins import KIND
from harness.avocado_plugins.matrix import (
    DEFAULT_TIMEOUTS,
    avocado_status,
    check_same_scenario,
    load_case,
    scenario_file,
)
from harness.errors import UsageError
from harness.machine.process import parent_death_signal
from harness.paths import new_run_dir
from harness.plan import Case, Plan, RunOptions, single_case_plan
from harness.results import CaseResult, ErrorClass, class_of_exception

log = logging.getLogger(__name__)
Message = dict[str, Any]
_STOP_SIGNALS = (signal.SIGALRM, signal.SIGTERM, signal.SIGINT)


class Deadline:
    """The test's time limit and the signals that stop it, as one KeyboardInterrupt.

    Only in the main thread (where Python runs signal handlers); restores the previous
    handlers on exit. ``signum`` tells what stopped the test, if anything did.
    """

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    @property
    def expired(self) -> bool:
        return self.signum == signal.SIGALRM

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        self.signum = signum
        raise KeyboardInterrupt(f"signal {signum}")

    def __enter__(self) -> Deadline:
        for sig in _STOP_SIGNALS:
            self._saved[sig] = signal.signal(sig, self._stop)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        signal.alarm(0)
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def _no_progress(result: CaseResult) -> None:
    """Results are reported once the test is over (see ``_report``)."""


@contextlib.contextmanager
def _captured(output: io.StringIO) -> Iterator[None]:
    """What the case prints and logs, kept for the test's stderr (avocado's format: the
    runner speaks its protocol on stdout)."""
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stderr(output), contextlib.redirect_stdout(output):
            yield
    finally:
        root.removeHandler(handler)


def run_case(plan: Plan, run_dir: Path, deadline: Deadline, output: io.StringIO
             ) -> CaseResult | None:
    """The case's result, or None if it was stopped (``deadline.signum`` says by what)."""
    from harness.execute.group import run_group  # boots machines: only when running

    try:
        with deadline, _captured(output):
            results = run_group(plan.groups[0], run_dir, plan.options, _no_progress)
    except KeyboardInterrupt:
        return None
    return results[0] if results else None


def artefacts_dir(output_dir: str | None) -> Path:
    """Where the harness puts a test's artefacts: in an avocado job ``<job>/pmu-harness/<test>``,
    linked from the test's directory as ``artefacts``.

    Not the test's directory itself: avocado names it after the test, ``N-scenario[machine,
    kernel,mode]``, and QEMU reads the paths it is given inside comma-separated options.
    """
    if not output_dir:
        return new_run_dir("avocado")
    test_dir = Path(output_dir)
    if not _ours(test_dir):
        # A spawner that runs tests on another host (avocado's remote spawner) hands over
        # the job host's path: the artefacts stay on this host, in the harness's own results
        # directory, and the test's log says where (``where``).
        return new_run_dir("avocado")
    if "," not in test_dir.name:
        return test_dir
    if test_dir.parent.name != "test-results":  # not in a job: the harness's own results
        return new_run_dir("avocado")
    target = test_dir.parent.parent / KIND / test_dir.name.replace(",", "_")
    target.mkdir(parents=True, exist_ok=True)
    link = test_dir / "artefacts"
    if not link.is_symlink():
        link.symlink_to(os.path.relpath(target, test_dir), target_is_directory=True)
    return target


def _ours(test_dir: Path) -> bool:
    """Whether avocado's directory for the test is on this host, for this user to write."""
    try:
        # is_dir() raises, not answers False, when a parent directory is not ours to search.
        return test_dir.is_dir() and os.access(test_dir, os.W_OK | os.X_OK)
    except OSError:
        return False


def where() -> str:
    """``user@host``: which machine (and which account on it) ran the test, so a job spread
    over hosts says where each test's artefacts are."""
    return f"{getpass.getuser()}@{socket.getfqdn()}"


def _log(text: str) -> Message:
    message: Message = messages.LogMessage.get(text.rstrip("\n") + "\n")
    return message


def _report(result: CaseResult) -> Iterator[Message]:
    data = {**result.to_json(), "host": where()}
    yield _log(f"{result.name}: {result.outcome.value.upper()}: {result.reason}")
    yield _log(f"kernel {data['kernel_version'] or '?'}, {result.seconds:.1f} s; artefacts "
               f"in {result.artefacts} on {data['host']}")
    for check in result.checks:
        yield _log(check.message())
    if data.get("bundle"):
        yield _log(f"reproducer bundle: {data['bundle']}")
    yield messages.WhiteboardMessage.get(json.dumps(data, indent=2) + "\n")
    status, fail_class = avocado_status(result)
    yield messages.FinishedMessage.get(
        status, fail_reason=None if fail_class is None else result.reason,
        fail_class=fail_class,
        class_name=result.scenario)  # xUnit's classname, as `pmu-harness run --junit`


def _case(runnable: Any) -> Case:
    kwargs = runnable.kwargs
    path = scenario_file(runnable.uri, kwargs)
    case = load_case(path, str(kwargs.get("scenario")), str(kwargs.get("machine")),
                     str(kwargs.get("kernel")), str(kwargs.get("mode")))
    check_same_scenario(path, kwargs.get("sha256"))
    return case


class PmuHarnessRunner(BaseRunner):
    """Runnable attributes: ``uri`` the scenario file; kwargs ``scenario`` (its id),
    ``machine``, ``kernel``, ``mode`` and ``timeout`` (seconds)."""

    name = KIND
    description = "Runs one pmu-harness case (scenario x machine x kernel x mode) in its own L1"
    CONFIGURATION_USED: ClassVar[list[str]] = []

    def run(self, runnable: Any) -> Iterator[Message]:
        yield messages.StartedMessage.get()
        try:
            yield from self._run(runnable)
        except Exception as exc:  # avocado waits forever for a silent test
            # The traceback goes to avocado in the message; a DEBUG record stays off stdout,
            # where the runner speaks avocado's protocol.
            log.debug("internal error (a harness bug)", exc_info=exc)
            yield messages.FinishedMessage.get(
                "error", fail_reason=f"pmu-harness internal error (a harness bug, not a kernel "
                f"verdict): {type(exc).__name__}: {exc}",
                fail_class=f"pmu-harness {class_of_exception(exc).value}",
                traceback=traceback.format_exc())

    @staticmethod
    def _run(runnable: Any) -> Iterator[Message]:
        try:
            case = _case(runnable)
            plan = single_case_plan(case, RunOptions())
        except UsageError as exc:
            yield messages.FinishedMessage.get(
                "error", fail_reason=str(exc),
                fail_class=f"pmu-harness {class_of_exception(exc).value}")
            return
        run_dir = artefacts_dir(runnable.output_dir)
        if "," in str(run_dir):
            yield messages.FinishedMessage.get(
                "error", fail_reason=f"{run_dir}: QEMU's options cannot take a path with a "
                "comma; use a --job-results-dir without one",
                fail_class=f"pmu-harness {ErrorClass.SCENARIO_ERROR.value}")
            return
        seconds = int(runnable.kwargs.get("timeout") or DEFAULT_TIMEOUTS[case.mode])
        yield _log(f"{case.name}: one L1 ({case.kernel} on {case.machine}), time limit "
                   f"{seconds} s; harness artefacts in {run_dir} on {where()}")
        deadline, output = Deadline(seconds), io.StringIO()
        result = run_case(plan, run_dir, deadline, output)
        if output.getvalue():
            yield messages.StderrMessage.get(output.getvalue())
        if result is not None:
            yield from _report(result)
        elif deadline.expired:
            yield _log(f"time limit of {seconds} s reached: L1 was shut down")
            yield messages.FinishedMessage.get(
                "interrupted", fail_reason=f"Timeout reached: {case.name} took longer than "
                f"{seconds} s (pmu_harness.timeout); artefacts in {run_dir}",
                fail_class=f"pmu-harness {ErrorClass.TIMEOUT.value}",
                class_name=case.scenario.id)
        # else: stopped by avocado (its task timeout, Ctrl-C), which reports the test itself.


class RunnerApp(BaseRunnerApp):
    PROG_NAME = f"avocado-runner-{KIND}"
    PROG_DESCRIPTION = "nrunner application for pmu-harness scenario cases"
    RUNNABLE_KINDS_CAPABLE: ClassVar[list[str]] = [KIND]


def _stop_with_parent() -> None:
    # Should avocado itself be SIGKILLed, this runner gets SIGTERM and shuts its L1 down
    # instead of running on unwatched (as `pmu-harness run -j`'s workers do).
    parent_death_signal(signal.SIGTERM)


def main() -> None:
    """``avocado-runner-pmu-harness``: the command avocado's process spawner starts."""
    _stop_with_parent()
    RunnerApp(print).run()


if __name__ == "__main__":
    main()
