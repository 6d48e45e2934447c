"""The CI pipeline files against their CI systems' published schemas (check-jsonschema's
vendored copies: offline), their shape (shard counts, exit codes), and the merge job's
verdict on made-up shard results: no machine boots here (tests/system/test_ci_shards.py
runs the flow for real)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK, EXIT_USAGE
from harness.plan import Request, make_plan
from harness.results import CaseResult, ErrorClass, Outcome, write_results_json
from harness.shard import in_shard
from tests.pipelines import (
    GITHUB,
    GITLAB,
    ci_workspace,
    github_flow,
    gitlab_flow,
    load,
    run_line,
)

SCHEMAS = ((GITLAB, "vendor.gitlab-ci"), (GITHUB, "vendor.github-workflows"))


def check_jsonschema(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           schema, str(path)], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize(("path", "schema"), SCHEMAS)
def test_pipeline_files_match_their_published_schema(path: Path, schema: str) -> None:
    proc = check_jsonschema(path, schema)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("path", "schema", "breakage"), [
    (GITLAB, "vendor.gitlab-ci", ("  parallel: 3\n", "  parallel: three\n")),
    (GITHUB, "vendor.github-workflows", ("    timeout-minutes: 180\n", "    timeout: 180\n")),
])
def test_the_schema_check_can_fail(tmp_path: Path, path: Path, schema: str,
                                   breakage: tuple[str, str]) -> None:
    old, new = breakage
    text = path.read_text()
    assert old in text
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new))
    assert check_jsonschema(broken, schema).returncode == 1


def merge_count(line: str) -> int:
    words = line.split("||")[0].split()
    assert words[:2] == [".ci/nightly-merge", "nightly"], line
    return int(words[2])


def test_gitlab_shards_and_merge_agree() -> None:
    data = load(GITLAB)
    [shard] = gitlab_flow("nightly-shard")
    [merge] = gitlab_flow("nightly-merge")
    assert shard == '.ci/nightly-shard "$NIGHTLY_SUITE" "nightly/shard-$CI_NODE_INDEX"'
    assert "--shard" not in shard  # the shard comes from CI_NODE_INDEX/CI_NODE_TOTAL
    assert merge_count(merge) == data["nightly-shard"]["parallel"]
    # Exit 125 is a warning, not a failure; exit 1 fails the job.
    assert data["nightly-merge"]["allow_failure"] == {"exit_codes": [EXIT_INFRA]}
    assert data["nightly-merge"]["when"] == "always"
    assert data["nightly-merge"]["artifacts"]["reports"]["junit"] == "nightly/nightly.xml"


def test_github_shards_and_merge_agree() -> None:
    data = load(GITHUB)
    shards = data["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    [merge] = github_flow("merge", {})
    count = merge_count(next(line.strip() for line in merge.splitlines()
                             if line.strip().startswith(".ci/nightly-merge")))
    assert shards == list(range(1, count + 1))
    [shard] = github_flow("shard", {"matrix.shard": "2", "strategy.job-total": "3"})
    assert shard.endswith('"nightly/shard-2" --shard "2/3"')
    assert data["jobs"]["merge"]["if"] == "always()"


def made_results(outcomes: dict[str, Outcome]) -> list[CaseResult]:
    plan = make_plan(Request(suite="smoke"))
    cases = [c for g in plan.groups for c in g.cases]
    return [replace(c.result(outcomes.get(c.scenario.id, Outcome.PASS), "made up"),
                    artefacts=f"/srv/{c.slug}") for c in cases]


def write_shards(out: Path, results: list[CaseResult], count: int, lost: tuple[int, ...] = ()
                 ) -> None:
    for i in range(1, count + 1):
        if i in lost:
            continue
        (out / f"shard-{i}").mkdir(parents=True)
        write_results_json([r for r in results if in_shard(r.name, i, count)],
                           out / f"shard-{i}" / "results.json",
                           {"suite": "smoke", "shard": f"{i}/{count}"})


FIRST = "cycle-counter-deny"  # a smoke scenario


@pytest.mark.parametrize(("outcomes", "lost", "code", "said"), [
    ({}, (), EXIT_OK, "every case passed"),
    ({FIRST: Outcome.FAIL}, (), EXIT_CHECK_FAILED, "KERNEL FAILURES"),
    ({FIRST: Outcome.ERROR}, (), EXIT_INFRA, "INFRASTRUCTURE ERRORS"),
    ({FIRST: Outcome.INCONCLUSIVE}, (), EXIT_INFRA, "INFRASTRUCTURE ERRORS"),
    ({}, (2,), EXIT_INFRA, "no results from shard(s) 2/3"),
    ({}, (1, 2, 3), EXIT_INFRA, "no results from shard(s) 1/3 2/3 3/3"),
])
def test_merge_verdicts(tmp_path: Path, outcomes: dict[str, Outcome], lost: tuple[int, ...],
                        code: int, said: str) -> None:
    results = made_results(outcomes)
    write_shards(tmp_path, results, 3, lost)
    proc = run_line(f".ci/nightly-merge {tmp_path} 3", {}, timeout=120)
    assert proc.returncode == code
    assert said in proc.stderr + proc.stdout
    if len(lost) < 3:
        assert (tmp_path / "nightly.html").is_file() and (tmp_path / "nightly.xml").is_file()
        assert "# Totals:" in (tmp_path / "nightly.ktap").read_text()


def test_a_failure_beats_a_lost_shard(tmp_path: Path) -> None:
    results = made_results({})
    failing = next(r for r in results if not in_shard(r.name, 3, 3))
    results = [replace(r, outcome=Outcome.FAIL, error_class=ErrorClass.KERNEL_FAILURE)
               if r == failing else r for r in results]
    write_shards(tmp_path, results, 3, lost=(3,))
    proc = run_line(f".ci/nightly-merge {tmp_path} 3", {}, timeout=120)
    assert proc.returncode == EXIT_CHECK_FAILED
    assert "no results from shard(s) 3/3" in proc.stderr


@pytest.mark.parametrize("args", ["", "nightly", "nightly 0", "nightly three", "a 3 b"])
def test_merge_usage(args: str) -> None:
    proc = run_line(f".ci/nightly-merge {args}", {}, timeout=60)
    assert proc.returncode == EXIT_USAGE and "usage:" in proc.stderr


def test_github_merge_step_tells_1_from_125(tmp_path: Path) -> None:
    """The workflow's own merge step: 1 fails it with an error annotation, 125 leaves it
    green with a warning annotation, and the KTAP lands in the run's summary."""
    [step] = github_flow("merge", {})
    for outcome, code, annotation in ((Outcome.FAIL, 1, "::error title=Kernel failures"),
                                      (Outcome.ERROR, 0, "::warning title=Infrastructure")):
        work = ci_workspace(tmp_path / outcome.value)
        write_shards(work / "nightly", made_results({FIRST: outcome}), 3)
        summary = work / "summary.md"
        proc = run_line(step, {"GITHUB_STEP_SUMMARY": str(summary)}, timeout=120, cwd=work)
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert annotation in proc.stdout
        assert "# Totals:" in summary.read_text()


def test_pipeline_files_are_plain_yaml() -> None:
    # No custom tags (GitLab's !reference): any YAML reader, and the schema check, see all.
    for path in (GITLAB, GITHUB):
        assert isinstance(yaml.safe_load(path.read_text()), dict)
