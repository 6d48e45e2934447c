"""No verdict is lost: a two-group run cut off after some cases finished (SIGINT, SIGTERM,
SIGKILL of the parent, one worker killed) keeps every finished verdict, lists the rest as
not run with why, and ``--resume`` finishes it to the totals of a run nobody cut."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from harness.results.journal import JOURNAL_FILE
from tests.system.children import default_sigint
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system

# Two groups (one L1 each), about 55 probe cases in each: ~30 s of cases on 2 cores, so a
# cut after the first few results lands with most of the run still to go.
RUN = ["run", str(SCENARIOS_DIR), "--kernel", "debian-6.1", "--machine", "max",
       "--machine", "cortex-a57", "-j", "2"]
FINISHED_BEFORE_THE_CUT = 3
RUN_SECONDS = 1200


def harness(args: list[str], results: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_NODE_")}
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT_ROOT,
                            env={**env, "PMU_HARNESS_RESULTS": str(results)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=RUN_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    return proc.returncode, err


def journalled(run_dir: Path) -> dict[str, str]:
    """Case name -> outcome of every result line in the run's journal so far."""
    seen = {}
    path = run_dir / JOURNAL_FILE
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line being written
        if "result" in entry:
            seen[entry["result"]["name"]] = entry["result"]["result"]
    return seen


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def results_json(run_dir: Path) -> dict[str, dict[str, object]]:
    data = json.loads((run_dir / "results.json").read_text())
    return {r["name"]: r for r in data["results"]}


def totals(run_dir: Path) -> str:
    summary: str = json.loads((run_dir / "results.json").read_text())["summary"]
    return summary


@pytest.fixture(scope="module")
def uncut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run nobody cut off: the totals a resumed run must reach."""
    results = tmp_path_factory.mktemp("uncut")
    code, err = finish(harness(RUN, results))
    assert code == 0, err
    (run_dir,) = results.glob("*-run-*")
    return run_dir


def workers_of(pid: int) -> list[int]:
    """The harness's worker processes (spawned: ``multiprocessing.spawn``)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in argv:
            found.append(int(proc.name))
    return found


def cut(how: str, results: Path) -> tuple[Path, dict[str, str], int, str]:
    """Start the run, cut it off ``how`` once a few cases finished; its directory, what had
    been judged before the cut, its exit code and stderr."""
    proc = harness(RUN, results)
    try:
        wait_for(lambda: list(results.glob("*-run-*")), 300, "a run directory")
        (run_dir,) = results.glob("*-run-*")
        wait_for(lambda: len(journalled(run_dir)) >= FINISHED_BEFORE_THE_CUT, 600,
                 f"{FINISHED_BEFORE_THE_CUT} results in the journal")
        before = journalled(run_dir)
        assert proc.poll() is None, "the run ended before it could be cut"
        if how == "worker":
            victims = workers_of(proc.pid)
            assert victims, "no worker found"
            os.kill(victims[0], signal.SIGKILL)
        else:
            proc.send_signal({"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM,
                              "SIGKILL": signal.SIGKILL}[how])
        code, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    wait_for(lambda: not qemu_pids_mentioning(str(run_dir)), 120, "every QEMU of the run gone")
    return run_dir, before, code, err


def check_kept_and_resume(run_dir: Path, before: dict[str, str], reason: str,
                          uncut: Path, results: Path) -> None:
    after = results_json(run_dir)
    for name, outcome in before.items():
        assert after[name]["result"] == outcome, name  # every finished verdict kept
    not_run = [r for r in after.values() if r["result"] == "not-run"]
    assert not_run, "the cut left nothing to resume"
    assert {r["reason"] for r in not_run} >= {reason}
    assert set(after) == set(results_json(uncut))  # every planned case is listed
    code, err = finish(harness(["run", "--resume", str(run_dir)], results))
    assert code == 0, err
    assert f"({len([r for r in after.values() if r['result'] != 'not-run'])} already judged)" \
        in err
    assert totals(run_dir).split(" (")[0] == totals(uncut).split(" (")[0]
    assert {n: r["result"] for n, r in results_json(run_dir).items()} == \
        {n: r["result"] for n, r in results_json(uncut).items()}
    # A verdict from before the cut was not judged again.
    lines = [json.loads(line) for line in (run_dir / JOURNAL_FILE).read_text().splitlines()]
    for name in before:
        assert sum(1 for e in lines if e.get("result", {}).get("name") == name) == 1, name


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_a_signal_keeps_every_finished_verdict_and_resume_finishes_the_run(
        tmp_path: Path, uncut: Path, how: str) -> None:
    run_dir, before, code, err = cut(how, tmp_path)
    assert code == 125, err
    assert "interrupted" in err and f"--resume {run_dir}" in err
    assert (run_dir / "report.html").is_file()
    check_kept_and_resume(run_dir, before, "not run: interrupted", uncut, tmp_path)


def test_a_killed_parent_leaves_a_journal_report_rebuilds_and_resume_finishes(
        tmp_path: Path, uncut: Path) -> None:
    run_dir, before, code, _ = cut("SIGKILL", tmp_path)
    assert code == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(run_dir)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 125, proc.stderr
    assert (run_dir / "report.html").is_file()
    check_kept_and_resume(run_dir, before, "not run: the run ended before it was judged",
                          uncut, tmp_path)


def test_a_lost_worker_costs_only_its_unfinished_cases(tmp_path: Path, uncut: Path) -> None:
    run_dir, before, code, err = cut("worker", tmp_path)
    assert code == 125, err
    check_kept_and_resume(run_dir, before, "not run: its worker was lost", uncut, tmp_path)
