"""Processes are always reaped: graceful first, then TERM, then KILL, and with the parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.errors import InfraError
from harness.machine.process import QemuProcess, tail

IGNORES_TERM = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_uses_graceful_step_first(tmp_path: Path) -> None:
    proc = QemuProcess(["sleep", "60"], tmp_path / "log")
    proc.start()
    calls: list[str] = []

    def graceful() -> None:
        calls.append("quit")
        os.kill(proc.pid or 0, 9)

    proc.stop(graceful=graceful, timeout=5)
    assert calls == ["quit"]
    assert proc.returncode() == -9


def test_failing_graceful_step_falls_through_to_kill(tmp_path: Path) -> None:
    proc = QemuProcess([sys.executable, "-c", IGNORES_TERM], tmp_path / "log")
    proc.start()
    time.sleep(0.3)  # let it install the handler

    def graceful() -> None:
        raise InfraError("QMP is gone")

    start = time.monotonic()
    proc.stop(graceful=graceful, timeout=0.5)
    assert proc.returncode() == -9  # the evidence: it was killed, not left to exit
    assert time.monotonic() - start < 50  # 100x the timeout: only a stop ignoring it


def test_failure_carries_command_status_and_logs(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    console.write_text("line 1\nKernel panic - not syncing: test\n")
    proc = QemuProcess(["sh", "-c", "echo qemu: bad option >&2; exit 1"], tmp_path / "qemu.log")
    proc.start()
    assert proc.wait(10) == 1
    error = proc.failure("QEMU did not start", console)
    assert "exit status 1" in str(error)
    assert error.command[:2] == ("sh", "-c")
    assert "qemu: bad option" in error.log_tail and "Kernel panic" in error.log_tail
    assert tail(tmp_path / "missing") == ""


def test_child_dies_with_the_harness(tmp_path: Path) -> None:
    # The harness SIGKILLed (no cleanup runs at all): the kernel still kills its QEMU.
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from harness.machine.process import QemuProcess
        p = QemuProcess(["sleep", "60"], Path({str(tmp_path / 'log')!r}))
        p.start()
        Path({str(pid_file)!r}).write_text(str(p.pid))
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait(10)
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The child is a zombie until init reaps it; /proc says so either way.
    state = Path(f"/proc/{child}/stat")
    assert not state.exists() or state.read_text().split()[2] == "Z"
