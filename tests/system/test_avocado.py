"""``avocado run testcases/`` end to end: every scenario of the default matrix as an avocado
test in its own L1, avocado's result files, tag selection, and time limits that leave no
QEMU behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from harness.avocado_plugins.matrix import Matrix, cases
from harness.images import build_image_set
from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from harness.scenario.discover import load_scenarios
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
# The default matrix (18 cases) takes about 2 minutes with avocado's 2 parallel tasks here.
AVOCADO_TIMEOUT = 1800
RESULT_FILES = ("results.json", "results.xml", "results.tap", "results.html")


def avocado(*args: str, timeout: float = AVOCADO_TIMEOUT) -> subprocess.CompletedProcess[str]:
    # `python -m avocado`: this venv's avocado and plugins, whether or not bin/ is on PATH.
    proc = subprocess.run([sys.executable, "-m", "avocado", *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return proc


def run_job(results: Path, *args: str, before: tuple[str, ...] = ()
            ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``avocado [BEFORE] run --job-results-dir RESULTS ARGS``, and the job's directory."""
    build_image_set("debian-6.1", progress=False)  # a cold build is not any test's time
    proc = avocado(*before, "run", "--job-results-dir", str(results), *args)
    assert qemu_pids_mentioning(str(results)) == []
    [job_dir] = [p for p in results.glob("job-*") if p.is_dir() and not p.is_symlink()]
    return proc, job_dir


# Each avocado test boots an L1 of its own, so the job runs one tag's scenarios of the
# default matrix, not all 55 (8 minutes of CI): what is checked is the integration.
JOB_TAG = "selftest-family"


def test_avocado_runs_the_default_matrix(tmp_path: Path) -> None:
    proc, job = run_job(tmp_path / "job-results", "--filter-by-tags", JOB_TAG, "testcases/")
    tagged = [s for s in load_scenarios([SCENARIOS_DIR]) if JOB_TAG in s.tags]
    expected = sorted(c.name for c in cases(tagged, Matrix()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in RESULT_FILES:
        assert (job / name).is_file(), name
    data: dict[str, Any] = json.loads((job / "results.json").read_text())
    assert sorted(t["name"] for t in data["tests"]) == expected
    assert {t["status"] for t in data["tests"]} == {"PASS"}
    assert data["pass"] == data["total"] == len(expected) >= 5
    suite = ET.fromstring((job / "results.xml").read_bytes())
    assert suite.get("tests") == str(len(expected)) and suite.get("failures") == "0"
    tap = (job / "results.tap").read_text().splitlines()
    assert tap[0] == f"1..{len(expected)}"
    assert sum(line.startswith("ok ") for line in tap) == len(expected)
    # The harness's own artefacts are reachable from each test's directory.
    for test in data["tests"]:
        [verdict] = Path(test["logdir"], "artefacts").glob("*/*/verdict.json")
        assert json.loads(verdict.read_text())["result"] == "pass"
        assert "checks passed" in Path(test["logfile"]).read_text()


def test_filter_by_tags_selects_only_smoke_scenarios() -> None:
    proc = avocado("list", "--filter-by-tags", "smoke", "testcases/", timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[1] for line in proc.stdout.splitlines() if line.strip()]
    smoke = sorted(s.id for s in load_scenarios([SCENARIOS_DIR]) if "smoke" in s.tags)
    assert sorted(name.split("[")[0] for name in listed) == smoke
    assert all(name.endswith("[max,debian-6.1,probe]") for name in listed)


# A case far longer than the limit (~25 s of SW_INCR writes): L1 comes up from a snapshot
# in ~2 s, so a limit of a few seconds must not depend on catching it mid-boot.
SLOW_SCENARIO = """\
id: slow-for-a-time-limit
description: A long SW_INCR loop without a filter, for a time limit to interrupt.
filters: none
control: false
machines: [max]
kernels: [debian-6.1]
workload:
  events: [SW_INCR]
  loops: 200000
expect:
  errnos: []
"""


# A time limit while L1 runs (restoring, booting or running the case): the harness's own
# (--pmu-timeout) and avocado's task timeout (task.timeout.running: SIGTERM to the runner,
# SIGKILL a second later).
@pytest.mark.parametrize("how", ["pmu-timeout", "avocado-task-timeout"])
def test_time_limit_leaves_no_qemu(tmp_path: Path, how: str) -> None:
    config = tmp_path / "avocado.conf"
    config.write_text("[task.timeout]\nrunning = 4\n")
    scenario = tmp_path / "slow-for-a-time-limit.yaml"
    scenario.write_text(SLOW_SCENARIO)
    before = ("--config", str(config)) if how == "avocado-task-timeout" else ()
    limit = ("--pmu-timeout", "4") if how == "pmu-timeout" else ()
    proc, job = run_job(tmp_path / "job-results", *limit, str(scenario), before=before)
    assert proc.returncode == 8, proc.stdout + proc.stderr  # AVOCADO_JOB_INTERRUPTED
    [test] = json.loads((job / "results.json").read_text())["tests"]
    assert test["status"] == "INTERRUPTED" and "Timeout reached" in test["fail_reason"]
    # QEMU had started: the limit hit a running machine, not an empty test.
    assert list(job.glob("pmu-harness/*/*/l1/console-*.log"))
