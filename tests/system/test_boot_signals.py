"""SIGINT or SIGTERM to `pmu-harness boot` mid-boot leaves no QEMU of that run behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.images import build_image_set
from tests.system.children import default_sigint
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_boot_reaps_qemu(tmp_path: Path, signum: signal.Signals) -> None:
    build_image_set("debian-6.1", progress=False)  # cached: the boot below starts at once
    env = {**os.environ, "PMU_HARNESS_RESULTS": str(tmp_path)}
    argv = [sys.executable, "-m", "harness.cli", "boot", "--kernel", "debian-6.1",
            "--machine", "max", "--no-snapshot"]
    harness = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=default_sigint)
    try:
        # Mid-boot: QEMU runs and the kernel has started printing, SSH is seconds away.
        started = _wait_for(lambda: any(p.stat().st_size > 0
                                        for p in tmp_path.glob("*/l1/console-*.log")), 120)
        if not started:
            harness.kill()
            pytest.fail(f"QEMU never started: {harness.communicate(timeout=30)}")
        assert qemu_pids_mentioning(str(tmp_path)), "QEMU of this run not found"
        harness.send_signal(signum)
        _, stderr = harness.communicate(timeout=60)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(10)
    assert harness.returncode == 125, stderr.decode()
    assert b"interrupted" in stderr
    assert _wait_for(lambda: not qemu_pids_mentioning(str(tmp_path)), 5), \
        qemu_pids_mentioning(str(tmp_path))
