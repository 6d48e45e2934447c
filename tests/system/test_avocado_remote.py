"""``avocado run --spawner pmu-remote`` over loopback hosts: the smoke suite spread over
three SSH "hosts" (tests/system/loopback_hosts.py), each booting its own L1s from its own
cache, gathered in one job whose outcomes are a local run's; then a host killed mid-job,
whose test becomes an error while the others run on, and the job ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.images import build_image_set
from harness.paths import PROJECT_ROOT
from tests.system.loopback_hosts import Host, loopback_hosts, missing_prerequisites
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
JOB_TIMEOUT = 1800
HOSTS = 3


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[list[Host], Path]]:
    why = missing_prerequisites()
    if why:
        pytest.skip(why)
    images = build_image_set("debian-6.1", progress=False)
    with loopback_hosts(HOSTS, images) as made:
        yield made


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def job_config(path: Path, slots: list[Path]) -> Path:
    """The job's avocado config: the slot files, one task per slot, and a status server on
    TCP (the automatic one is a UNIX socket only the job's own user can reach)."""
    port = _free_port()
    path.write_text(
        "[spawner.remote]\n"
        f"slots = {[str(s) for s in slots]!r}\n\n"
        "[run]\n"
        "status_server_auto = False\n"
        f"status_server_listen = 127.0.0.1:{port}\n"
        f"status_server_uri = 127.0.0.1:{port}\n"
        f"max_parallel_tasks = {len(slots)}\n")
    return path


def start_remote_job(tmp_path: Path, hosts: list[Host], key: Path) -> subprocess.Popen[str]:
    config = job_config(tmp_path / "avocado.conf",
                        [h.slot(tmp_path, key) for h in hosts])
    # aexpect (the spawner's SSH sessions) runs its helper from PATH: this venv's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.Popen(
        [sys.executable, "-m", "avocado", "--config", str(config), "run", "--spawner",
         "pmu-remote", "--job-results-dir", str(tmp_path / "job-results"),
         "--filter-by-tags", "smoke", "testcases/"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen[str], tmp_path: Path) -> tuple[int, str, Path]:
    """The job's exit code, output and directory, once it ended (killed at the deadline)."""
    try:
        out, err = proc.communicate(timeout=JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    print(out)
    print(err, file=sys.stderr)
    [job] = [p for p in (tmp_path / "job-results").glob("job-*")
             if p.is_dir() and not p.is_symlink()]
    return proc.returncode, out + err, job


def no_job_left(hosts: list[Host], key: Path) -> None:
    """Nothing of the job on any host (QEMU, runner, login shell) nor here (the spawner's
    SSH clients, which name the job's key); a host's login shell may take a moment to go
    after its session closed."""
    deadline = time.monotonic() + 30
    while any(h.remaining() for h in hosts) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [h.remaining() for h in hosts] == [[]] * len(hosts)
    assert [p.name for p in Path("/proc").iterdir()
            if p.name.isdigit() and str(key).encode() in _cmdline(p)] == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_smoke_suite_over_three_loopback_hosts(tmp_path: Path, local_smoke: dict[str, str],
                                               hosts: tuple[list[Host], Path]) -> None:
    machines, key = hosts
    code, output, job = finish(start_remote_job(tmp_path, machines, key), tmp_path)
    assert code == 0, output
    data: dict[str, Any] = json.loads((job / "results.json").read_text())
    outcomes = {t["name"]: t["status"].lower() for t in data["tests"]}
    assert outcomes == local_smoke
    for name in ("results.xml", "results.tap", "results.html"):
        assert (job / name).is_file(), name
    users = {h.user: h for h in machines}
    ran_on = set()
    for test in data["tests"]:
        # The verdict came back in the whiteboard, with the host and the artefacts there.
        verdict = json.loads(Path(test["logdir"], "whiteboard").read_text())
        assert verdict["result"] == "pass" and verdict["reason"]
        user = verdict["host"].split("@")[0]
        assert user in users
        assert verdict["artefacts"].startswith(str(users[user].checkout / "results"))
        assert Path(verdict["artefacts"], "verdict.json").is_file()
        log = Path(test["logfile"]).read_text()
        assert f"artefacts in {verdict['artefacts']} on {user}@" in log
        ran_on.add(user)
    assert ran_on == set(users)  # four tests, three slots: every host took one
    no_job_left(machines, key)


def _running_case(host: Host) -> bool:
    """Whether a test's L1 is up on ``host`` (its QEMU runs as the host's user)."""
    return any(b"qemu-system" in _cmdline(Path("/proc", str(pid))) for pid in host.remaining())


def test_a_host_killed_mid_job_turns_its_test_into_an_error(
        tmp_path: Path, hosts: tuple[list[Host], Path]) -> None:
    machines, key = hosts
    victim = machines[-1]
    proc = start_remote_job(tmp_path, machines, key)
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while not _running_case(victim) and proc.poll() is None:
            assert time.monotonic() < deadline, "no test started on the victim host"
            time.sleep(0.5)
        victim.kill()  # its SSH server, sessions, runner and QEMU: the host is gone
    finally:
        code, output, job = finish(proc, tmp_path)
    assert code == 1, output  # AVOCADO_TESTS_FAIL: an error, and the job ended
    data: dict[str, Any] = json.loads((job / "results.json").read_text())
    statuses = {t["name"]: t["status"] for t in data["tests"]}
    assert len(statuses) == 4, output  # every test is in the results, none skipped
    [lost] = [t for t in data["tests"] if t["status"] != "PASS"]
    assert lost["status"] == "ERROR"
    assert f"its remote host {victim.address}:{victim.port} went away" in lost["fail_reason"]
    assert data["pass"] == 3 and data["errors"] == 1 and data["skip"] == 0
    assert qemu_pids_mentioning(str(victim.home)) == []
    no_job_left(machines, key)
