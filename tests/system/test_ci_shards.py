"""The CI pipelines' shard and merge flow for real: the smoke suite in three shards and
merged must give the outcomes of one unsharded run.

The shards are the pipeline files' own commands, run in bash as the CI systems run them:
shards 1 and 2 as GitLab's `parallel:` jobs (CI_NODE_INDEX/CI_NODE_TOTAL), shard 3 as
GitHub's matrix job (`--shard 3/3`), so both ways a shard arrives are exercised while the
smoke suite boots one L1 per shard at most; both merge jobs then run over the three. The
smoke suite's cases fall as 0, 3 and 1 into the shards: an empty shard is part of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.images import build_image_set
from tests.pipelines import GITLAB, ci_workspace, github_flow, gitlab_flow, load, run_line
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
RUN_TIMEOUT = 1800
SUITE = "smoke"


def outcomes(path: Path) -> dict[str, str]:
    data: dict[str, Any] = json.loads(path.read_text())
    return {r["name"]: r["result"] for r in data["results"]}


def test_three_shards_merge_to_one_run(tmp_path: Path, local_smoke: dict[str, str]) -> None:
    build_image_set("debian-6.1", progress=False)  # a cold build is not the flow's time
    count = load(GITLAB)["nightly-shard"]["parallel"]
    assert count == 3
    work = ci_workspace(tmp_path / "ci")
    suite = {"NIGHTLY_SUITE": SUITE}
    [gitlab_shard] = gitlab_flow("nightly-shard")
    for index in (1, 2):
        proc = run_line(gitlab_shard, {**suite, "CI_NODE_INDEX": str(index),
                                       "CI_NODE_TOTAL": str(count)}, RUN_TIMEOUT, work)
        assert proc.returncode == 0, proc.stderr
        assert f"shard {index}/3 (from CI_NODE_INDEX={index} and CI_NODE_TOTAL=3)" \
            in proc.stderr
    [github_shard] = github_flow("shard", {"matrix.shard": "3", "strategy.job-total": "3"})
    proc = run_line(github_shard, suite, RUN_TIMEOUT, work)
    assert proc.returncode == 0, proc.stderr
    assert "shard 3/3 (from --shard)" in proc.stderr
    assert qemu_pids_mentioning(str(work)) == []
    per_shard = [outcomes(work / "nightly" / f"shard-{i}" / "results.json") for i in (1, 2, 3)]

    [gitlab_merge] = gitlab_flow("nightly-merge")
    proc = run_line(gitlab_merge, {}, 300, work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merged = outcomes(work / "nightly" / "nightly.json")
    for name in ("nightly.html", "nightly.xml", "nightly.ktap"):
        assert (work / "nightly" / name).stat().st_size > 0, name
    summary = work / "summary.md"
    [github_merge] = github_flow("merge", {})
    proc = run_line(github_merge, {"GITHUB_STEP_SUMMARY": str(summary)}, 300, work)
    assert proc.returncode == 0 and "::" not in proc.stdout, proc.stdout + proc.stderr
    assert "# Totals: pass:" in summary.read_text()

    reference = local_smoke
    assert merged == reference
    assert set(reference.values()) == {"pass"} and len(reference) >= 4
    # Every case ran in exactly one shard.
    assert sum(len(s) for s in per_shard) == len(reference)
    assert qemu_pids_mentioning(str(tmp_path)) == []
