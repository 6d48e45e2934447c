"""Result records read back from results.json, shards merged, and `pmu-harness report`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as ET
import pytest

from harness.cli import main
from harness.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INFRA,
    EXIT_NOTHING_JUDGED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
)
from harness.paths import SCENARIOS_DIR
from harness.plan import plan_cases
from harness.reports.junit import junit
from harness.reports.ktap import ktap
from harness.results import (
    CaseResult,
    Check,
    ErrorClass,
    Outcome,
    exit_code,
    load_results,
    result_from_json,
    summary_line,
    write_results_json,
)
from harness.results.classes import ALLOWED
from harness.scenario.discover import load_scenarios
from harness.shard import in_shard

CYCLE = [Outcome.PASS, Outcome.FAIL, Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.ERROR]


def case_results(outcomes: list[Outcome] | None = None) -> list[CaseResult]:
    """A realistic matrix (every scenario, two kernels, two machines) with made-up outcomes."""
    groups, skipped = plan_cases(load_scenarios([SCENARIOS_DIR]), ("max", "cortex-a57"),
                                 ("debian-6.1", "debian-6.12"), ("probe",))
    wanted = outcomes or CYCLE
    made = []
    for i, case in enumerate(c for g in groups for c in g.cases):
        outcome = wanted[i % len(wanted)]
        checks = (Check("unfiltered control run", "PMU initialised and measured", "ok",
                        Outcome.PASS, "harness"),
                  Check(f"counter CPU_CYCLES #{i}", "0", "17", outcome, "scenario"))
        made.append(replace(case.result(outcome, f"reason {i}"), checks=checks,
                            artefacts=f"/srv/run/{case.kernel}-{case.machine}/{case.slug}",
                            kernel_version="6.1.192", seconds=1.23456 + i))
    return made + skipped


def write_results(path: Path, results: list[CaseResult], **meta: Any) -> Path:
    write_results_json(results, path, {"suite": "nightly", "seconds": 10.0, **meta})
    return path


def test_round_trip_from_to_json() -> None:
    for result in case_results():
        record = result_from_json(result.to_json(), "x.json")
        # The one difference a file makes: seconds are written to the millisecond.
        assert record == replace(result, seconds=round(result.seconds, 3))
        assert record.outcome is result.outcome
        assert record.error_class is result.error_class
        assert record.name == f"{result.scenario}[{result.machine},{result.kernel},{result.mode}]"
        assert record.tags == result.tags and record.checks == result.checks
        assert record.to_json() == result.to_json()
        assert result_from_json(record.to_json()) == record


def test_error_class_is_written_read_back_and_checked() -> None:
    result = case_results([Outcome.ERROR])[0]
    assert result.error_class is ErrorClass.INFRASTRUCTURE  # what Case.result gives an error
    for outcome, error_class in [(o, c) for o, allowed in ALLOWED.items() for c in allowed]:
        data = replace(result, outcome=outcome, error_class=error_class).to_json()
        assert data["error_class"] == error_class.value
        assert result_from_json(data).error_class is error_class
    # The invariant, when a result is read back: a FAIL is never "infrastructure", an
    # error always has a class, a pass none.
    failed = {**result.to_json(), "result": "fail", "error_class": "infrastructure"}
    with pytest.raises(UsageError, match=r"a result of fail cannot be 'infrastructure'"):
        result_from_json(failed, "x.json")
    unclassed = {k: v for k, v in result.to_json().items() if k != "error_class"}
    with pytest.raises(UsageError, match=r"a result of error needs an error class"):
        result_from_json(unclassed, "x.json")
    with pytest.raises(UsageError, match=r"a result of pass has no error class"):
        result_from_json({**result.to_json(), "result": "pass"}, "x.json")
    # ... and when one is made.
    with pytest.raises(ValueError, match=r"a result of fail cannot be 'infrastructure'"):
        replace(result, outcome=Outcome.FAIL)
    passed = replace(result, outcome=Outcome.PASS, error_class=None).to_json()
    assert "error_class" not in passed
    assert result_from_json(passed).error_class is None
    with pytest.raises(UsageError, match=r"'error_class' must be one of .*, not 'kernel'") \
            as info:
        result_from_json({**passed, "error_class": "kernel"}, "x.json")
    assert all(c.value in str(info.value) for c in ErrorClass)


def test_tags_and_bundle_are_optional_and_kept_when_present() -> None:
    data = case_results()[0].to_json()
    data.pop("tags", None)
    data.pop("bundle", None)
    record = result_from_json(data)
    assert (record.tags, record.bundle) == ((), None)
    data.update(tags=["errno", "ordering"], bundle="/srv/bundles/x.tar.gz", new_key=[1])
    record = result_from_json(data)
    assert record.tags == ("errno", "ordering")
    assert record.bundle == "/srv/bundles/x.tar.gz"


def test_bad_record_names_the_file_and_every_problem() -> None:
    data = case_results()[0].to_json()
    data.update(seconds="fast", result="passed", checks=[{"name": 3}], tags="x")
    del data["machine"]
    with pytest.raises(UsageError) as info:
        result_from_json(data, "shard-2.json", "results[7]")
    text = str(info.value)
    assert all(line.startswith("shard-2.json: results[7] (") for line in text.splitlines())
    for needed in ("'seconds' must be a number, not a string", "'machine' must be a string",
                   "'result' must be one of pass, fail", "checks[0].name must be a string",
                   "checks[0].expected", "'tags' must be a list of strings"):
        assert needed in text
    with pytest.raises(UsageError, match="expected an object, not a list"):
        result_from_json([], "a.json")
    with pytest.raises(UsageError, match="'seconds' must be a number, not a boolean"):
        result_from_json({**case_results()[0].to_json(), "seconds": True})


def test_disjoint_shards_merge_to_the_whole(tmp_path: Path) -> None:
    results = case_results()
    whole = write_results(tmp_path / "whole.json", results)
    shards = [write_results(tmp_path / f"shard{i}.json",
                            [r for r in results if in_shard(r.name, i, 3)], shard=f"{i}/3")
              for i in (1, 2, 3)]
    merged, metas = load_results(shards)
    expected, _ = load_results([whole])
    assert sorted(merged, key=lambda r: r.name) == sorted(expected, key=lambda r: r.name)
    assert len(merged) == len(results)
    assert [m["shard"] for m in metas] == ["1/3", "2/3", "3/3"]
    assert summary_line(merged) == summary_line(results)


def test_identical_duplicates_merge_but_overlap_is_an_error(tmp_path: Path) -> None:
    results = case_results()
    first = write_results(tmp_path / "a.json", results[:10])
    again = write_results(tmp_path / "again.json", results[5:12])
    records, _ = load_results([first, again])
    assert len(records) == 12
    changed = [replace(r, outcome=Outcome.FAIL, reason="different", checks=(),
                       error_class=ErrorClass.KERNEL_FAILURE)
               for r in results[8:9]]
    other = write_results(tmp_path / "b.json", changed)
    with pytest.raises(UsageError) as info:
        load_results([first, other])
    text = str(info.value)
    assert str(other) in text and str(first) in text
    assert results[8].name in text and "must not overlap" in text


@pytest.mark.parametrize(("content", "expected"), [
    ('{"meta": {}, "results": [\n  {"name": "x"},\n  oops\n]}', "bad.json:3: not valid JSON"),
    ('{"meta": {}, "summary": ""}', "bad.json: not a pmu-harness results file"),
    ("[1, 2]", "bad.json: not a pmu-harness results file"),
    ('{"meta": 3, "results": []}', "bad.json: 'meta' must be an object"),
    ('{"results": [7]}', "bad.json: results[0]: expected an object, not a number"),
    ('{"results": [{"name": "n[a,b,c]"}]}', "bad.json: results[0] (n[a,b,c]): 'scenario'"),
])
def test_malformed_files_give_located_usage_errors(tmp_path: Path, content: str,
                                                   expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(UsageError) as info:
        load_results([bad])
    assert expected in str(info.value).replace(str(tmp_path) + "/", "")


def test_every_file_problem_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(UsageError) as info:
        load_results([tmp_path / "a.json", tmp_path / "missing.json"])
    assert len(info.value.problems) == 2
    assert "missing.json: cannot read" in str(info.value)


def test_formats_are_the_same_for_a_run_and_its_results_read_back(tmp_path: Path) -> None:
    results = case_results()
    records, _ = load_results([write_results(tmp_path / "results.json", results)])
    assert ktap(records) == ktap(results)
    junit(results, tmp_path / "a.xml")
    junit(records, tmp_path / "b.xml")
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


def test_exit_code_rule() -> None:
    def code(*outcomes: Outcome) -> int:
        return exit_code(case_results(list(outcomes))[:len(outcomes)])

    assert exit_code([]) == EXIT_NOTHING_JUDGED
    assert code(Outcome.SKIP, Outcome.SKIP) == EXIT_NOTHING_JUDGED
    assert code(Outcome.PASS, Outcome.SKIP) == EXIT_OK
    assert code(Outcome.PASS, Outcome.INCONCLUSIVE) == EXIT_INFRA
    assert code(Outcome.ERROR) == EXIT_INFRA
    assert code(Outcome.ERROR, Outcome.FAIL, Outcome.INCONCLUSIVE) == EXIT_CHECK_FAILED


@pytest.mark.parametrize(("outcomes", "code"), [
    ([Outcome.PASS], EXIT_OK),
    ([Outcome.PASS, Outcome.SKIP], EXIT_OK),
    ([Outcome.PASS, Outcome.INCONCLUSIVE], EXIT_INFRA),
    ([Outcome.ERROR, Outcome.PASS], EXIT_INFRA),
    ([Outcome.PASS, Outcome.FAIL, Outcome.ERROR], EXIT_CHECK_FAILED),
    ([Outcome.SKIP], EXIT_NOTHING_JUDGED),
])
def test_report_command_exit_codes(tmp_path: Path, outcomes: list[Outcome], code: int) -> None:
    results = case_results(outcomes)
    shards = [write_results(tmp_path / f"s{i}.json",
                            [r for r in results if in_shard(r.name, i, 2)], shard=f"{i}/2")
              for i in (1, 2)]
    assert main(["report", *map(str, shards)]) == code


def test_report_command_writes_every_format(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    results = case_results()
    shards = [write_results(tmp_path / f"s{i}.json",
                            [r for r in results if in_shard(r.name, i, 2)],
                            shard=f"{i}/2", run_dir=f"/srv/run{i}")
              for i in (1, 2)]
    out = tmp_path / "out"
    out.mkdir()
    code = main(["report", *map(str, shards), "--html", str(out / "r.html"), "--json",
                 str(out / "merged.json"), "--junit", str(out / "junit.xml"), "--ktap"])
    assert code == EXIT_CHECK_FAILED
    captured = capsys.readouterr()
    assert captured.out.startswith("KTAP version 1\n")
    assert captured.out.splitlines()[-1].startswith("# Totals: pass:")
    assert summary_line(results) in captured.err
    # With --ktap the verdict table goes to stderr: stdout is KTAP alone.
    assert captured.err.splitlines()[0].split() == ["SCENARIO", "MACHINE", "KERNEL", "MODE",
                                                    "RESULT", "REASON"]
    assert "SCENARIO" not in captured.out
    merged, metas = load_results([out / "merged.json"])
    assert sorted(r.name for r in merged) == sorted(r.name for r in results)
    assert metas[0]["shard"] == "1/2, 2/2"
    assert metas[0]["run_dir"] == "/srv/run1, /srv/run2"
    assert json.loads((out / "merged.json").read_text())["summary"] == summary_line(results)
    suite = ET.fromstring((out / "junit.xml").read_bytes())
    assert suite.get("tests") == str(len(results))
    html = (out / "r.html").read_text()
    assert html.rstrip().endswith("</html>")
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "merged.json", "r.html"]


def test_report_command_prints_the_verdict_table(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # Changed with the one report writer (harness.reports.emit): `report` prints the table
    # on stdout, as `run` does, and the summary line after it.
    results = case_results()
    shard = write_results(tmp_path / "all.json", results)
    assert main(["report", str(shard)]) == EXIT_CHECK_FAILED
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SCENARIO", "MACHINE", "KERNEL", "MODE", "RESULT", "REASON"]
    shown = [r for r in results if r.outcome is not Outcome.SKIP]
    assert len(out) == 1 + len(shown) + 1
    assert out[1].split()[:5] == [shown[0].scenario, shown[0].machine, shown[0].kernel,
                                  shown[0].mode, shown[0].outcome.value.upper()]
    assert out[-1] == f"{summary_line(results)} (1 file(s))"
    assert main(["report", str(shard), "--skips"]) == EXIT_CHECK_FAILED
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(results) + 1


def test_report_warns_about_a_missing_shard(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    results = case_results([Outcome.PASS])
    shards = [write_results(tmp_path / f"s{i}.json",
                            [r for r in results if in_shard(r.name, i, 3)], shard=f"{i}/3")
              for i in (1, 3)]
    html = tmp_path / "r.html"
    assert main(["report", *map(str, shards), "--html", str(html)]) == EXIT_OK
    assert "shard(s) 2/3 missing" in capsys.readouterr().err
    assert "shard(s) 2/3 missing" in html.read_text()


def test_report_command_bad_input_is_a_usage_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [{"name": 1}]}')
    html = tmp_path / "r.html"
    assert main(["report", str(bad), "--html", str(html)]) == EXIT_USAGE
    assert f"{bad}: results[0]: 'name' must be a string" in capsys.readouterr().err
    assert not html.exists()
