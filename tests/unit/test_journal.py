"""The run's journal (``results.jsonl``): what a cut-off run leaves, read back by
``report RUN_DIR`` and ``run --resume``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import EXIT_INFRA, EXIT_USAGE, UsageError
from harness.paths import SCENARIOS_DIR
from harness.plan import Case
from harness.results import NotRun, Outcome, not_run
from harness.results.journal import JOURNAL_FILE, Journal, planned, read_journal
from harness.scenario.discover import load_scenarios


def cases() -> list[Case]:
    scenarios = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}
    return [Case(scenarios[i], "max", "debian-6.1", "probe")
            for i in ("no-filter", "member-deny", "cycle-counter-deny")]


def a_journal(run_dir: Path) -> Journal:
    journal = Journal(run_dir)
    journal.meta({"argv": ["run"], "cwd": "/"})
    journal.plan(planned(c.result(Outcome.NOT_RUN, "")) for c in cases())
    first, second, _ = cases()
    journal.append(replace(first.result(Outcome.PASS, "5 checks passed"), seconds=0.3))
    journal.append(second.result(Outcome.FAIL, "counter CPU_CYCLES: expected 0"))
    return journal


def test_a_journal_reads_back_every_result_and_lists_the_rest_as_not_run(
        tmp_path: Path) -> None:
    journal = a_journal(tmp_path)
    contents = read_journal(tmp_path / JOURNAL_FILE)
    assert contents.results() == journal.results()
    assert [r.outcome for r in contents.results()] == [Outcome.PASS, Outcome.FAIL,
                                                       Outcome.NOT_RUN]
    assert contents.results()[2].reason == "not run: the run ended before it was judged"
    assert contents.meta == {"argv": ["run"], "cwd": "/"}
    # A resumed run appends: the plan does not reset a case that has its verdict.
    again = Journal(tmp_path)
    again.plan(planned(c.result(Outcome.NOT_RUN, "")) for c in cases())
    assert [r.outcome for r in read_journal(tmp_path / JOURNAL_FILE).results()] == [
        Outcome.PASS, Outcome.FAIL, Outcome.NOT_RUN]


def test_a_line_cut_short_at_the_end_is_ignored_elsewhere_it_is_an_error(
        tmp_path: Path) -> None:
    a_journal(tmp_path)
    path = tmp_path / JOURNAL_FILE
    whole = path.read_text()
    path.write_text(whole + '{"result": {"name": "cyc')  # SIGKILL mid-write
    assert len(read_journal(path).results()) == 3
    lines = whole.splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    with pytest.raises(UsageError) as info:
        read_journal(path)
    assert f"{path}:2: not a JSON line" in str(info.value)


def test_a_full_disk_costs_the_journal_not_the_verdicts(tmp_path: Path) -> None:
    journal = a_journal(tmp_path)
    (tmp_path / JOURNAL_FILE).unlink()
    (tmp_path / JOURNAL_FILE).mkdir()  # every write now fails
    third = cases()[2]
    journal.append(third.result(Outcome.PASS, "ok"))
    assert [r.outcome for r in journal.results()] == [Outcome.PASS, Outcome.FAIL,
                                                      Outcome.PASS]


def test_report_run_dir_rebuilds_the_reports_of_a_killed_run(tmp_path: Path) -> None:
    a_journal(tmp_path)
    assert main(["report", str(tmp_path), "--junit", str(tmp_path / "j.xml")]) == 1
    data = json.loads((tmp_path / "results.json").read_text())
    assert [r["result"] for r in data["results"]] == ["pass", "fail", "not-run"]
    assert data["results"][2]["error_class"] == "canceled"
    assert data["summary"].endswith(", 1 not run")
    assert (tmp_path / "report.html").is_file()
    assert 'type="canceled"' in (tmp_path / "j.xml").read_text()


def test_report_run_dir_without_a_journal_or_with_other_inputs_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == EXIT_USAGE
    assert f"no {JOURNAL_FILE}" in capsys.readouterr().err
    a_journal(tmp_path)
    assert main(["report", str(tmp_path), str(tmp_path / "x.json")]) == EXIT_USAGE


def test_resume_takes_the_runs_own_selection(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path), "--kernel", "debian-6.1"]) == EXIT_USAGE
    assert "drop --kernel" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == EXIT_USAGE
    assert f"no {JOURNAL_FILE} there" in capsys.readouterr().err


def test_not_run_keeps_the_cases_identity_and_says_why() -> None:
    result = cases()[0].result(Outcome.PASS, "ok")
    for why in NotRun:
        made = not_run(result, why)
        assert (made.name, made.outcome, made.error_class) == (result.name, Outcome.NOT_RUN,
                                                               why.error_class)
        assert made.reason == f"not run: {why.why}"
    assert {w.error_class.value for w in NotRun} == {"canceled", "timeout", "infrastructure"}
    assert EXIT_INFRA == 125
