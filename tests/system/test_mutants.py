"""``pmu-harness mutants`` for real: the unmutated filter-v3 kernel passes the smoke
scenarios on max, a planted WARN (no check can see it) is killed by the kernel-health check,
and a planted bug only an ARMv8.0 PMU shows survives on max: it is named and the run exits 1.
Each mutant is an incremental build on the filter-v3 workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import EXIT_CHECK_FAILED
from harness.paths import PROJECT_ROOT
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
TIMEOUT = 2400


def test_a_warn_is_killed_and_an_invisible_bug_survives(tmp_path: Path) -> None:
    report = tmp_path / "mutants.json"
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "mutants", "--suite", "mutants-smoke",
         "--mutant", "warn-in-filter-path", "--mutant", "v80-width-not-enforced",
         "--json", str(report)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "PMU_HARNESS_RESULTS": str(results)})
    print(proc.stdout, proc.stderr[-4000:])
    assert proc.returncode == EXIT_CHECK_FAILED, proc.stderr[-4000:]
    data = json.loads(report.read_text())
    fate = {m["name"]: m for m in data["mutants"]}
    warn, v80 = fate["warn-in-filter-path"], fate["v80-width-not-enforced"]
    assert warn["status"] == "killed"
    assert all("L1 kernel log during the case" in why and "WARNING: CPU:" in why
               for why in warn["reasons"])
    assert "member-deny[max,filter-v3,probe]" in warn["killed_by"]
    assert v80["status"] == "survived" and v80["killed_by"] == []
    assert data["score"] == {"killed": 1, "total": 2}
    assert "survived: v80-width-not-enforced" in proc.stdout
    assert qemu_pids_mentioning(str(results)) == []
