"""``pmu-harness run`` end to end: real L1 (QEMU TCG), real KVM, real L2.

The CI gate of issue 5: every starter scenario in probe mode on debian-6.1 with max and
cortex-a57, the masking scenarios in linux mode on max, a planted wrong expectation that
must fail, and an event TCG never counts that must be inconclusive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from tests.system.children import default_sigint
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
PLANTED = Path(__file__).parent.parent / "data" / "scenarios"
RUN_TIMEOUT = 1800


def run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "results.json"
    env_results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", *args, "--json", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
        env={**os.environ, "PMU_HARNESS_RESULTS": str(env_results)}, check=False,
    )
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    assert qemu_pids_mentioning(str(env_results)) == []
    data = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


def outcomes(data: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["result"] for r in data["results"]}


def test_starter_scenarios_probe_mode_on_both_cpus(tmp_path: Path) -> None:
    code, data, output = run(tmp_path, str(SCENARIOS_DIR), "--kernel", "debian-6.1",
                             "--machine", "max", "--machine", "cortex-a57", "--mode", "probe")
    ran = {n: r for n, r in outcomes(data).items() if r != "skip"}
    assert code == 0, output
    assert len(ran) >= 34 and set(ran.values()) == {"pass"}
    assert "verdict:" in output


def test_masking_scenarios_linux_mode(tmp_path: Path) -> None:
    code, data, output = run(tmp_path, str(SCENARIOS_DIR), "--tag", "masking", "--kernel",
                             "debian-6.1", "--machine", "max", "--mode", "linux")
    assert code == 0, output
    ran = {n: r for n, r in outcomes(data).items() if r != "skip"}
    assert len(ran) >= 5 and set(ran.values()) == {"pass"}


def test_planted_failure_and_inconclusive(tmp_path: Path) -> None:
    code, data, output = run(tmp_path, str(PLANTED), "--kernel", "debian-6.1",
                             "--machine", "max", "--mode", "probe")
    results = {r["scenario"]: r for r in data["results"]}
    wrong = results["wrong-expectation"]
    assert wrong["result"] == "fail"
    assert "CPU_CYCLES" in wrong["reason"] and "expected counting" in wrong["reason"]
    assert "observed 0" in wrong["reason"]
    assert results["tcg-uncountable"]["result"] == "inconclusive"
    assert code == 1, output  # a failure outranks the inconclusive result
    assert Path(wrong["artefacts"], "filtered.probe.json").exists()
    # Both bad cases leave a reproducer, and the run says how to use it.
    for name in ("wrong-expectation", "tcg-uncountable"):
        assert Path(results[name]["bundle"], "bundle.json").is_file()
        assert f"pmu-harness rerun {results[name]['bundle']}" in output
    rerun = subprocess.run(
        [sys.executable, "-m", "harness.cli", "rerun", wrong["bundle"]], cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
        env={**os.environ, "PMU_HARNESS_RESULTS": str(tmp_path / "rerun")})
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert "reproduced: fail again (counter CPU_CYCLES)" in rerun.stderr
    assert qemu_pids_mentioning(str(tmp_path / "rerun")) == []


def test_ctrl_c_stops_every_parallel_machine(tmp_path: Path) -> None:
    env_results = tmp_path / "results"
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--machine", "max", "--machine",
         "cortex-a57", "-j", "2"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "PMU_HARNESS_RESULTS": str(env_results)},
        start_new_session=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 300
        while len(qemu_pids_mentioning(str(env_results))) < 2:
            assert time.monotonic() < deadline and harness.poll() is None, "no 2 L1s"
            time.sleep(0.2)
        # Like Ctrl-C on a terminal: the whole foreground process group gets SIGINT.
        os.killpg(harness.pid, signal.SIGINT)
        _, stderr = harness.communicate(timeout=180)
    finally:
        if harness.poll() is None:
            os.killpg(harness.pid, signal.SIGKILL)
            harness.wait(30)
    assert harness.returncode == 125, stderr.decode()
    assert b"interrupted" in stderr
    assert qemu_pids_mentioning(str(env_results)) == []
