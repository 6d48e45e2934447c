"""Whatever happens, the exit code is 0, 1, 2 or 125 (128 for a usage error under --bisect):
out of memory, runaway recursion, a closed pipe, reports that cannot be written (issue 15)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from harness.atomicfile import write_atomically
from harness.cli import main
from harness.errors import (
    EXIT_ABORT_BISECT,
    EXIT_CHECK_FAILED,
    EXIT_INFRA,
    EXIT_OK,
    EXIT_USAGE,
    Located,
    UsageError,
)
from harness.execute.pool import PoolResult
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, Group
from harness.reports.formats import FORMATS
from harness.results import Outcome
from harness.scenario.discover import load_scenarios

ONE = str(SCENARIOS_DIR / "member-deny.yaml")


def fail_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom(paths: object) -> object:
        raise exc

    monkeypatch.setattr("harness.commands.scenarios.load_scenarios", boom)


@pytest.mark.parametrize("exc", [MemoryError(), RecursionError("deep"), SystemExit(3),
                                 SystemExit("text"), KeyboardInterrupt()],
                         ids=["MemoryError", "RecursionError", "exit3", "exit-text", "Ctrl-C"])
def test_anything_escaping_a_command_is_an_infrastructure_error(
        monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    fail_with(monkeypatch, exc)
    assert main(["validate", ONE]) == EXIT_INFRA


class _Unprintable(Located):
    def __str__(self) -> str:
        raise MemoryError


def test_out_of_memory_while_reporting_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The alias bomb ended as exit 1: MemoryError inside the usage-error handler.
    problem = _Unprintable(Path("x.yaml"), 1, "m")
    fail_with(monkeypatch, UsageError("bad", (problem,)))
    assert main(["validate", ONE]) == EXIT_INFRA


def test_a_usage_error_under_bisect_aborts_the_bisect(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    assert main(["run", "--bisect", str(tmp_path)]) == EXIT_ABORT_BISECT
    assert "aborting the bisect" in capsys.readouterr().err


def test_a_closed_stdout_is_not_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    detached: list[bool] = []
    monkeypatch.setattr("harness.cli._detach_stdout", lambda: detached.append(True))

    def closed(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError

    monkeypatch.setattr("builtins.print", closed)
    assert main(["list"]) == EXIT_INFRA
    assert detached == [True]


# -- reports ----------------------------------------------------------------------------


def _fake_run(monkeypatch: pytest.MonkeyPatch, outcome: Outcome) -> list[str]:
    """`run` with every case ending as ``outcome``, without booting anything."""
    calls: list[str] = []

    def run_groups(groups: list[Group], run_dir: Path, options: Any, jobs: int,
                   progress: Any, **_: Any) -> PoolResult:
        calls.append(str(run_dir))
        return PoolResult([c.result(outcome, "made up") for g in groups for c in g.cases])

    monkeypatch.setattr("harness.execute.pool.run_groups", run_groups)
    return calls


@pytest.mark.parametrize("flag", ["--json", "--junit", "--html"])
def test_a_report_into_a_missing_directory_is_refused_before_the_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path / "results"))
    calls = _fake_run(monkeypatch, Outcome.FAIL)
    assert main(["run", ONE, flag, str(tmp_path / "missing" / "report")]) == EXIT_USAGE
    assert calls == [] and not (tmp_path / "results").exists()
    assert "missing is not a directory" in capsys.readouterr().err


def test_a_report_that_cannot_be_written_keeps_a_failed_verdict(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path / "results"))

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    # The HTML page hits a full disk (every run writes one into its directory).
    monkeypatch.setattr("harness.reports.formats.FORMATS", tuple(
        dataclasses.replace(f, cases=full_disk) if f.name == "html" else f
        for f in FORMATS))
    _fake_run(monkeypatch, Outcome.FAIL)
    assert main(["run", ONE]) == EXIT_CHECK_FAILED
    _fake_run(monkeypatch, Outcome.PASS)
    assert main(["run", ONE]) == EXIT_INFRA


def test_the_cli_shows_the_harness_log_as_it_is(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # The library logs (a retry, progress); the CLI shows the harness's own lines on stderr,
    # message only, and not the INFO chatter of the libraries under it.
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path / "results"))

    def run_groups(groups: list[Group], run_dir: Path, options: Any, jobs: int,
                   progress: Any, **_: Any) -> PoolResult:
        logging.getLogger("harness.execute.group").warning("  RETRY        x in a fresh L1: y")
        logging.getLogger("harness.store.download").info("Image: 12.5 MB ...")
        logging.getLogger("paramiko.transport").info("Connected (version 2.0)")
        return PoolResult([c.result(Outcome.PASS, "ok") for g in groups for c in g.cases])

    monkeypatch.setattr("harness.execute.pool.run_groups", run_groups)
    handlers = list(logging.getLogger().handlers)
    assert main(["run", ONE]) == EXIT_OK
    err = capsys.readouterr().err.splitlines()
    assert "  RETRY        x in a fresh L1: y" in err
    assert "Image: 12.5 MB ..." in err
    assert not [line for line in err if "Connected" in line]
    assert logging.getLogger().handlers == handlers  # the caller's logging, as it was


def test_a_failed_write_leaves_no_half_file(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    def full_disk(self: Path, data: str, encoding: str | None = None) -> int:
        self.write_bytes(data[:10].encode())
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomically(tmp_path / "results.json", "x" * 100)
    assert list(tmp_path.iterdir()) == []


def test_report_on_deeply_nested_json(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"results": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    nested = tmp_path / "nested.json"
    nested.write_text('{"results": [], "meta": {"suite": ' + "[" * 500 + "]" * 500 + "}}")
    assert main(["report", str(deep), str(nested)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{deep}: nested more than" in err and f"{nested}: nested more than" in err


def test_report_on_numbers_and_names_past_every_limit(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == "member-deny"]
    record = Case(scenario, "max", "9" * 5000, "probe").result(Outcome.PASS, "").to_json()
    good = tmp_path / "names.json"
    good.write_text(json.dumps({"results": [record], "meta": {"shard": "1/" + "9" * 5000}}))
    big = tmp_path / "numbers.json"
    big.write_text('{"results": [], "meta": {"seconds": ' + "9" * 5000 + "}}")
    assert main(["report", str(good), "--html", str(tmp_path / "r.html")]) == EXIT_OK
    assert main(["report", str(big)]) == EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pmu-harness ")
