"""What several system tests compare against, made once per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.paths import PROJECT_ROOT

RUN_TIMEOUT = 1800


@pytest.fixture(scope="session")
def local_smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The smoke suite's outcomes (case name -> result) from one unsharded local run."""
    base = tmp_path_factory.mktemp("local-smoke")
    out = base / "results.json"
    # A GitLab parallel job running the tests must not shard the reference.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CI_NODE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--suite", "smoke", "--json", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
        env={**env, "PMU_HARNESS_RESULTS": str(base / "results")})
    print(proc.stdout, proc.stderr)
    assert "pmu-harness: shard" not in proc.stderr
    assert out.is_file(), proc.stderr
    return {r["name"]: r["result"] for r in json.loads(out.read_text())["results"]}
