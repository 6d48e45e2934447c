"""Linux mode, restored against booted: the same L2 guest (the small L2 kernel) either
restored from the snapshot its L1 took once, or booted cold for every run, must give every
linux-mode scenario the same verdict on one kernel (debian-6.1 on max). And the restored
runs must really have been restored (one snapshot per vCPU count in the L1, runs that
loaded it), with the case's filter installed by the preload in each restored QEMU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.paths import SCENARIOS_DIR
from tests.system.test_run import outcomes, run

pytestmark = pytest.mark.system
KERNEL = ("--kernel", "debian-6.1", "--machine", "max", "--mode", "linux")


def case_dirs(data: dict[str, Any]) -> list[Path]:
    return [Path(r["artefacts"]) for r in data["results"] if r["result"] != "skip"]


def test_restored_l2_gives_the_verdicts_of_a_booted_one(tmp_path: Path) -> None:
    # Every scenario that runs in linux mode (the others are skipped, or not planned).
    scenarios = [str(SCENARIOS_DIR)]
    for way in ("boot", "restore"):
        (tmp_path / way).mkdir()
    code_boot, booted, output = run(tmp_path / "boot", *scenarios, *KERNEL, "--l2-boot")
    assert len(case_dirs(booted)) >= 12
    assert code_boot == 0, output
    code, restored, output = run(tmp_path / "restore", *scenarios, *KERNEL, "--l2-restore")
    assert code == 0, output
    assert outcomes(restored) == outcomes(booted)
    ran = {name: result for name, result in outcomes(restored).items() if result != "skip"}
    assert len(ran) >= 12 and set(ran.values()) == {"pass"}
    # Restored runs loaded a snapshot; booted ones did not.
    for case_dir in case_dirs(restored):
        command = (case_dir / "filtered.l2-command.txt").read_text()
        assert "-incoming" in command and "LD_PRELOAD=" in command
        assert '"errno":0' in (case_dir / "filtered.filterlog").read_text() or \
            not (case_dir / "filtered.filter").read_text().count("\nfilter ")
    for case_dir in case_dirs(booted):
        assert "-incoming" not in (case_dir / "filtered.l2-command.txt").read_text()
    group = case_dirs(restored)[0].parent
    assert sorted(p.name for p in group.glob("l2-snapshot-*.seconds")) == \
        ["l2-snapshot-1.seconds", "l2-snapshot-2.seconds"]
