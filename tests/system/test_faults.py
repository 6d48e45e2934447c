"""Fault injection on real machines: whatever breaks under a run, it ends as an
infrastructure error (exit 125) within its deadline, with the logs of every attempt kept,
no QEMU left behind, no half-written report, and the case judged before the fault still
judged (issue 15).

Each test runs two probe cases in one L1 (debian-6.1 on max): ``member-deny`` (a few
seconds) and then a slow SW_INCR loop (tens of seconds), and breaks something while the slow
one runs: QEMU killed, QEMU stopped (a wedged L1), dropbear killed inside L1, the cached L1
initramfs truncated under a retry, the results directory's filesystem full.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InfraError
from harness.images import ImageSet, build_image_set
from harness.machine.ssh import SshSession, SshTarget
from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
KERNEL, MACHINE = "debian-6.1", "max"
FAST = f"member-deny[{MACHINE},{KERNEL},probe]"
SLOW = f"slow-sw-incr[{MACHINE},{KERNEL},probe]"
# Long enough (about 25 s on max under TCG) to break something while it runs.
SLOW_SCENARIO = """\
id: slow-sw-incr
description: A long SW_INCR loop without a filter, to inject faults while the probe runs.
filters: none
control: false
workload:
  events: [SW_INCR]
  loops: 200000
expect:
  errnos: []
  counting: [SW_INCR]
"""
# How long a whole run may take with its fault: boots, the slow case, the harness's own
# deadline on the broken step (the probe's deadline for this workload, 130 s, for a wedged
# L1), QEMU's shutdown.
RUN_DEADLINE = 480.0


@pytest.fixture(scope="module")
def images() -> ImageSet:
    return build_image_set(KERNEL, progress=False)


@dataclass
class Run:
    """One `pmu-harness run` in the background, and where it writes."""

    process: subprocess.Popen[str]
    results: Path
    report: Path
    started: float

    def group_dir(self) -> Path | None:
        found = sorted(self.results.glob(f"*/{KERNEL}-{MACHINE}"))
        return found[0] if found else None

    def finish(self) -> tuple[int, str, float]:
        try:
            out, err = self.process.communicate(timeout=RUN_DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate(timeout=30)
            pytest.fail(f"the run did not end within {RUN_DEADLINE} s:\n{err[-4000:]}")
        print(out)
        print(err, file=sys.stderr)
        return self.process.returncode, out + err, time.monotonic() - self.started


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_SCENARIO)
    runs: list[Run] = []

    def start(*extra: str, results: Path | None = None) -> Run:
        results = results or tmp_path / "results"
        report = tmp_path / "report.json"
        argv = [sys.executable, "-m", "harness.cli", "run",
                str(SCENARIOS_DIR / "member-deny.yaml"), str(slow), "--kernel", KERNEL,
                "--machine", MACHINE, "--json", str(report), *extra]
        env = {**os.environ, "PMU_HARNESS_RESULTS": str(results)}
        process = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        runs.append(Run(process, results, report, time.monotonic()))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.communicate(timeout=30)
        for pid in qemu_pids_mentioning(str(run.results)):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def slow_case_running(run: Run) -> None:
    """Wait until the slow case's probe has its filter file: the probe is about to run."""
    def started() -> bool:
        group = run.group_dir()
        return group is not None and (group / "slow-sw-incr-probe" / "filtered.filter").exists()

    wait_for(started, 300, "the slow case to start")
    time.sleep(3)  # into the probe's loop


def the_qemu(run: Run) -> int:
    pids = qemu_pids_mentioning(str(run.results))
    assert len(pids) == 1, pids
    return pids[0]


def outcomes(run: Run) -> dict[str, str]:
    data = json.loads(run.report.read_text())
    return {r["name"]: r["result"] for r in data["results"]}


def check_ended_as_infrastructure_error(run: Run, deadline: float) -> tuple[str, dict[str, Any]]:
    """The common verdict of every fault: 125 in time, the fast case still judged, the slow
    one an error whose evidence was kept, nothing left running, no half-written report."""
    code, output, seconds = run.finish()
    assert code == 125, output[-3000:]
    assert seconds < deadline, f"took {seconds:.0f} s"
    assert qemu_pids_mentioning(str(run.results)) == []
    # write_atomically's temporaries (`.results.json.tmp<pid>`): no half-written report.
    assert not [p for p in run.results.rglob(".*.tmp[0-9]*") if p.is_file()]
    found = outcomes(run)
    assert found[FAST] == "pass"
    assert found[SLOW] == "error"
    (slow,) = [r for r in json.loads(run.report.read_text())["results"] if r["name"] == SLOW]
    return output, slow


def consoles(run: Run) -> list[Path]:
    group = run.group_dir()
    assert group is not None
    return sorted((group / "l1").glob("console-*.log"))


# -- the faults -------------------------------------------------------------------------


def test_qemu_killed_mid_case(start_run: Callable[..., Run], images: ImageSet) -> None:
    run = start_run("--retries", "0")
    slow_case_running(run)
    os.kill(the_qemu(run), signal.SIGKILL)
    _, slow = check_ended_as_infrastructure_error(run, 300)
    assert "infrastructure" in slow["reason"]
    # One L1, cold or restored from a snapshot (the default when one matches).
    assert [p.name for p in consoles(run)] in (["console-1-cold.log"],
                                               ["console-1-restore.log"])
    assert consoles(run)[0].stat().st_size > 0
    assert slow["bundle"] and Path(slow["bundle"], "bundle.json").is_file()


def test_qemu_stopped_is_a_wedged_l1(start_run: Callable[..., Run], images: ImageSet) -> None:
    run = start_run("--retries", "0")
    slow_case_running(run)
    os.kill(the_qemu(run), signal.SIGSTOP)
    # The probe's deadline (harness.l2.probe.probe_deadline: 130 s + 5 for this workload)
    # ends the case; shutting the stopped QEMU down takes
    # QMP's timeout, then SIGTERM's (queued while stopped), then SIGKILL.
    _, slow = check_ended_as_infrastructure_error(run, RUN_DEADLINE)
    assert "infrastructure" in slow["reason"]
    assert consoles(run)[0].stat().st_size > 0


def _ssh_port(qemu_pid: int) -> int:
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30,
                               check=True).stdout
    for line in listening.splitlines():
        if f"pid={qemu_pid}," in line:
            match = re.search(r"127\.0\.0\.1:(\d+)\s", line)
            if match:
                return int(match.group(1))
    raise AssertionError(f"no port of QEMU {qemu_pid} in:\n{listening}")


def _kill_dropbear(images: ImageSet, port: int) -> None:
    """Log into L1 as the harness does and kill every dropbear in it (ours included)."""
    session = SshSession(SshTarget("127.0.0.1", port, images.ssh_client_key,
                                   images.ssh_host_public_key))
    session.connect(time.monotonic() + 60)
    command = ('for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = dropbear ] && '
               'kill -9 "${p#/proc/}"; done')
    try:
        session.run(command, timeout=10)
    except InfraError:
        pass  # our own connection went down with dropbear
    finally:
        session.close()


def test_dropbear_killed_inside_l1(start_run: Callable[..., Run], images: ImageSet) -> None:
    # A cold-booted L1 takes its commands over SSH; a restored one over the serial channel,
    # which a dead dropbear does not touch. --no-snapshots keeps this test on SSH.
    run = start_run("--retries", "0", "--no-snapshots")
    slow_case_running(run)
    _kill_dropbear(images, _ssh_port(the_qemu(run)))
    _, slow = check_ended_as_infrastructure_error(run, 300)
    assert "SSH" in slow["reason"] and "exited -1" not in slow["reason"]


def test_dropbear_killed_in_a_restored_l1_costs_no_verdict(start_run: Callable[..., Run],
                                                            images: ImageSet) -> None:
    # A restored L1 takes its commands over the serial channel, which needs no dropbear:
    # both cases are still judged. `boot` first, so an L1 snapshot exists to restore.
    subprocess.run([sys.executable, "-m", "harness.cli", "boot", "--kernel", KERNEL,
                    "--machine", MACHINE], cwd=PROJECT_ROOT, check=True, timeout=900,
                   capture_output=True)
    run = start_run("--retries", "0")
    slow_case_running(run)
    _kill_dropbear(images, _ssh_port(the_qemu(run)))
    code, output, _ = run.finish()
    assert code == 0, output[-3000:]
    assert set(outcomes(run).values()) == {"pass"}, outcomes(run)


@pytest.fixture
def restore_initrd(images: ImageSet, tmp_path: Path) -> Iterator[Path]:
    """The cached L1 initramfs, put back byte for byte after the test truncated it."""
    backup = tmp_path / "l1-initrd.backup"
    shutil.copyfile(images.l1_initrd, backup)
    yield images.l1_initrd
    shutil.copyfile(backup, images.l1_initrd)


def test_truncated_cached_image_under_a_retry(start_run: Callable[..., Run],
                                              restore_initrd: Path) -> None:
    # The first L1 has the initramfs in memory; the fresh L1 of the retry boots from the
    # truncated file: its kernel cannot find /init and panics.
    run = start_run("--retries", "1")
    slow_case_running(run)
    with restore_initrd.open("r+b") as handle:
        handle.truncate(restore_initrd.stat().st_size // 2)
    os.kill(the_qemu(run), signal.SIGKILL)
    output, slow = check_ended_as_infrastructure_error(run, 300)
    assert "RETRY" in output
    # Both attempts' consoles are kept: the killed L1's and the one that panicked. The
    # retry boots cold although a snapshot may match everything else: the initramfs
    # changed on disk, and a snapshot is keyed by its size and mtime too.
    logs = consoles(run)
    assert [p.name for p in logs] in (["console-1-cold.log", "console-2-cold.log"],
                                      ["console-1-restore.log", "console-2-cold.log"])
    assert "Kernel panic" in logs[1].read_text(errors="replace")
    assert "panic" in slow["reason"].lower()


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], timeout=60, check=False)


def _fill(directory: Path) -> None:
    with (directory / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass


def test_results_directory_on_a_full_filesystem(start_run: Callable[..., Run],
                                                small_filesystem: Path) -> None:
    run = start_run("--retries", "0", results=small_filesystem / "results")
    slow_case_running(run)
    _fill(small_filesystem)
    # The slow case cannot write its artefacts once the probe is done: an error, and the
    # run directory's own results.json does not fit either (the --json report does).
    output, _ = check_ended_as_infrastructure_error(run, 300)
    assert "No space left on device" in output
    assert "a report could not be written" in output
    assert consoles(run)[0].stat().st_size > 0
