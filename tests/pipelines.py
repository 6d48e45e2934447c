"""The CI pipeline files (``.gitlab-ci.yml``, ``.github/workflows/nightly.yml``) read as
their CI systems read them, and their shard and merge commands run as those systems would
run them: in bash, from the checkout, with the variables the CI system sets."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.paths import PROJECT_ROOT

GITLAB = PROJECT_ROOT / ".gitlab-ci.yml"
GITHUB = PROJECT_ROOT / ".github" / "workflows" / "nightly.yml"
# The commands of the flow itself; the other lines set the CI machine up (apt, pip, the
# image cache), which the test suite's own set-up has done here.
FLOW = re.compile(r"^\.ci/nightly-(shard|merge) ")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def gitlab_flow(job: str) -> list[str]:
    """The shard or merge commands of a GitLab job's ``script:``."""
    return [line for line in load(GITLAB)[job]["script"] if FLOW.match(line)]


def github_flow(job: str, expressions: Mapping[str, str]) -> list[str]:
    """The ``run:`` scripts of a GitHub job's steps that call the flow's commands, each
    ``${{ ... }}`` replaced from ``expressions`` (one not in it is a KeyError: the test
    must know every expression it runs)."""
    scripts = [str(step["run"]) for step in load(GITHUB)["jobs"][job]["steps"]
               if ".ci/nightly-" in str(step.get("run", ""))]
    return [re.sub(r"\$\{\{(.*?)\}\}", lambda m: expressions[m.group(1).strip()], script)
            for script in scripts]


def ci_workspace(path: Path) -> Path:
    """A directory that looks like the CI's checkout to the pipeline's commands (its
    ``.ci`` is this checkout's), so what they write stays out of the checkout."""
    path.mkdir(parents=True, exist_ok=True)
    (path / ".ci").symlink_to(PROJECT_ROOT / ".ci", target_is_directory=True)
    return path


# A GitLab parallel job running these tests must not shard the runs they start.
_NOT_INHERITED = ("CI_NODE_INDEX", "CI_NODE_TOTAL")


def run_line(line: str, env: Mapping[str, str], timeout: float, cwd: Path = PROJECT_ROOT
             ) -> subprocess.CompletedProcess[str]:
    """One command (or ``run:`` script) of a pipeline file in bash, ``-e`` as both CI
    systems run them, with the environment's variables and ``env``."""
    inherited = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    proc = subprocess.run(["bash", "-e", "-c", line], cwd=cwd, env={**inherited, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)
    print(f"$ {line}\n{proc.stdout}")
    print(proc.stderr)
    return proc
