"""Console parsing on real logs: panics are recognised with evidence; markers end waits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.machine.console import ConsoleLog, find_fatal

DATA = Path(__file__).parent / "data" / "machine"


def test_panic_found_with_evidence() -> None:
    fatal = find_fatal((DATA / "panic-vfs-6.1.txt").read_text())
    assert fatal is not None
    assert fatal.kind == "kernel panic"
    assert "VFS: Unable to mount root fs" in fatal.line
    assert "mount_block_root" in fatal.evidence


def test_clean_boots_have_nothing_fatal() -> None:
    for name in ("boot-max-vhe-6.1.txt", "boot-a57-nvhe-6.1.txt", "boot-no-el2-6.1.txt"):
        assert find_fatal((DATA / name).read_text()) is None, name


def test_oops_comes_before_the_panic_it_causes() -> None:
    text = (
        "[    2.0] Unable to handle kernel NULL pointer dereference at virtual address 0\n"
        "[    2.1] Internal error: Oops: 96000045 [#1] SMP\n"
        "[    2.2] Kernel panic - not syncing: Fatal exception\n"
    )
    fatal = find_fatal(text)
    assert fatal is not None and fatal.kind == "kernel oops"
    assert "NULL pointer" in fatal.line


def test_wait_for_marker_written_later(tmp_path: Path) -> None:
    log = tmp_path / "console.log"

    def writer() -> None:
        time.sleep(0.2)
        log.write_text("booting\nPMU-HARNESS-L1-READY\n")

    thread = threading.Thread(target=writer)
    thread.start()
    ConsoleLog(log).wait_for("PMU-HARNESS-L1-READY", time.monotonic() + 10, lambda: True)
    thread.join()


def test_wait_for_panic_raises_with_text(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text((DATA / "panic-vfs-6.1.txt").read_text())
    with pytest.raises(InfraError, match="kernel panic") as info:
        ConsoleLog(log).wait_for("READY", time.monotonic() + 10, lambda: False)
    assert "Unable to mount root fs" in info.value.log_tail
    assert info.value.log_path == log


def test_wait_for_qemu_exit(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("half a boot\n")
    with pytest.raises(InfraError, match="QEMU exited") as info:
        ConsoleLog(log).wait_for("READY", time.monotonic() + 10, lambda: False)
    assert "half a boot" in info.value.log_tail


def test_wait_for_deadline(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(InfraError, match="timed out"):
        ConsoleLog(tmp_path / "none.log").wait_for("READY", start + 0.3, lambda: True)
    assert time.monotonic() - start < 30  # 100x the deadline: only a wait ignoring it


def test_the_dying_headlines_are_the_health_checks() -> None:
    # One table (harness/health.py) says what a splat is and which splats mean L1 is going
    # down while it boots: a WARN or a lockdep report is a finding, never a dead boot.
    bug = "[    1.5] kernel BUG at mm/slub.c:436!\n[    1.5] Internal error: Oops - BUG: 0\n"
    fatal = find_fatal("[    1.0] booting\n" + bug)
    assert fatal is not None and fatal.kind == "kernel bug"
    assert fatal.line == "[    1.5] kernel BUG at mm/slub.c:436!"
    serror = find_fatal("[    3.0] SError Interrupt on CPU1, code 0xbe000000 -- SError\n")
    assert serror is not None and serror.kind == "kernel oops"
    for harmless in ("[    2.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar+0x4/0x8\n",
                     "[    2.0] WARNING: possible circular locking dependency detected\n",
                     "[    2.0] BUG: scheduling while atomic: swapper/0/0/0x00000002\n",
                     "[    2.0] hrtimer: interrupt took 12345678 ns\n"):
        assert find_fatal(harmless) is None, harmless
