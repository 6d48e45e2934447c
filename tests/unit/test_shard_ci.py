"""The shard of a run: ``--shard``, or a GitLab ``parallel:`` job's ``CI_NODE_INDEX`` and
``CI_NODE_TOTAL`` (1-based), each checked like any input; nothing boots here."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import EXIT_USAGE, UsageError
from harness.plan import Request, make_plan
from harness.shard import Shard, choose_shard


def gitlab(index: str | None, total: str | None) -> dict[str, str]:
    env = {"CI": "true", "GITLAB_CI": "true"}
    if index is not None:
        env["CI_NODE_INDEX"] = index
    if total is not None:
        env["CI_NODE_TOTAL"] = total
    return env


def test_a_parallel_job_is_its_own_shard() -> None:
    shard = choose_shard(None, gitlab("2", "3"))
    assert shard == Shard(2, 3, "from CI_NODE_INDEX=2 and CI_NODE_TOTAL=3")
    assert shard.text == "2/3"


@pytest.mark.parametrize("env", [{}, gitlab(None, "1"), gitlab("", ""), gitlab(None, "")])
def test_no_parallel_job_is_the_whole_matrix(env: dict[str, str]) -> None:
    # GitLab sets CI_NODE_TOTAL=1 and no index in a job without `parallel:`.
    assert choose_shard(None, env) is None


def test_the_option_wins_over_the_environment() -> None:
    # Even over variables that would be an error on their own: the option was asked for.
    shard = choose_shard("1/2", gitlab("7", "3"))
    assert shard == Shard(1, 2, "from --shard")


@pytest.mark.parametrize(("index", "total", "named"), [
    ("4", "3", "CI_NODE_INDEX=4 is past CI_NODE_TOTAL=3"),
    ("0", "3", "CI_NODE_INDEX='0'"),            # GitLab counts from 1
    ("1", "0", "CI_NODE_TOTAL='0'"),
    ("x", "3", "CI_NODE_INDEX='x'"),
    ("1", "3 ", "CI_NODE_TOTAL='3 '"),
    ("+1", "3", "CI_NODE_INDEX='+1'"),
    ("\u0662", "3", "CI_NODE_INDEX="),           # an Arabic-Indic 2: int() would take it
    ("1", "1001", "CI_NODE_TOTAL='1001'"),
    ("1", None, "CI_NODE_INDEX is set but CI_NODE_TOTAL is not"),
    (None, "3", "CI_NODE_TOTAL=3 but CI_NODE_INDEX is not set"),
    ("1", "\x1b[2J", "CI_NODE_TOTAL='\\x1b[2J'"),  # shown escaped, never obeyed
])
def test_bad_variables_are_usage_errors_naming_them(index: str | None, total: str | None,
                                                    named: str) -> None:
    with pytest.raises(UsageError) as info:
        choose_shard(None, gitlab(index, total))
    assert named in str(info.value)
    assert "\x1b" not in str(info.value)


def test_three_parallel_jobs_make_the_whole_matrix_once() -> None:
    def names(shard: Shard | None) -> set[str]:
        plan = make_plan(Request(suite="nightly", shard=shard.text if shard else None))
        return {c.name for g in plan.groups for c in g.cases}

    parts = [names(choose_shard(None, gitlab(str(i), "3"))) for i in (1, 2, 3)]
    assert sum(map(len, parts)) == len(set().union(*parts))
    assert set().union(*parts) == names(None)


def test_cli_exits_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI_NODE_INDEX", "4")
    monkeypatch.setenv("CI_NODE_TOTAL", "3")
    assert main(["run", "--suite", "smoke"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "CI_NODE_INDEX=4 is past CI_NODE_TOTAL=3" in err
    assert "Traceback" not in err
    # --shard wins: the same bad variables are not read, and the run gets as far as its
    # next check (an unknown suite), still before anything starts.
    assert main(["run", "--suite", "no-such-suite", "--shard", "1/3"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "CI_NODE" not in err and "no-such-suite" in err
