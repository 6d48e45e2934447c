"""The measured catalog (kernel-patches/mutants/scores.yaml): what `mutants --record` reads
from a real run's JSON, how a record replaces an older one, and what `--list` says. The
golden run is bench/mutants-6.12-run.json, a real `mutants --kernel source-6.12` run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.mutantscores import (
    Score,
    describe,
    load_scores,
    merged,
    scores_from_run,
    write_scores,
)
from harness.mutation import load_mutants
from harness.paths import PROJECT_ROOT

RUN = PROJECT_ROOT / "bench" / "mutants-6.12-run.json"
KNOWN = [m.name for m in load_mutants()]


def golden() -> list[Score]:
    return scores_from_run(json.loads(RUN.read_text()), RUN, KNOWN)


def test_a_real_runs_json_gives_one_record_per_mutant() -> None:
    scores = {s.mutant: s for s in golden()}
    assert len(scores) == 14
    v80 = scores["v80-width-not-enforced"]
    # The run said its suite and kernel once, in its meta (the format before --all).
    assert v80 == Score("v80-width-not-enforced", "source-6.12", "mutants", "killed",
                        "2026-12-06 05:22 UTC",
                        "/work/main/results/20261206-051612-mutants-28368-0",
                        ("event-space-width[cortex-a57,source-6.12,probe]",))
    assert scores["unknown-action-accepted"].killed_by[:2] == (
        "invalid-filter[max,source-6.12,probe]", "selftest-invalid-action[max,source-6.12,probe]")
    assert len(scores["default-inverted"].killed_by) == 69


def test_list_names_the_first_killers_and_the_runs_date() -> None:
    scores = {s.mutant: s for s in golden()}
    assert describe(scores["no-ebusy-after-init"]) == (
        "killed on source-6.12 by filter-after-init-is-per-vcpu[max], filter-after-init[max], "
        "filter-after-init-is-per-vcpu[cortex-a57] (+1 more) (suite mutants, run of "
        "2026-12-06 05:22 UTC)")
    survived = Score("x", "filter-v3", "mutants", "survived", "2026-12-06 09:00 UTC", "/r")
    assert describe(survived) == ("survived on filter-v3 (suite mutants, run of "
                                  "2026-12-06 09:00 UTC)")


def test_recording_replaces_the_same_mutant_on_the_same_kernel_only() -> None:
    old = [Score("a", "filter-v3", "mutants", "survived", "d1", "/r1"),
           Score("a", "source-6.12", "mutants", "killed", "d1", "/r1", ("c[max,k,probe]",)),
           Score("b", "filter-v3", "mutants", "killed", "d1", "/r1", ("c[max,k,probe]",))]
    new = [Score("c", "filter-v3", "mutants", "killed", "d2", "/r2", ("e[max,k,probe]",)),
           Score("a", "filter-v3", "mutants", "killed", "d2", "/r2", ("e[max,k,probe]",))]
    assert merged(old, new) == [new[1], old[1], old[2], new[0]]


def test_the_file_written_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "scores.yaml"
    write_scores(golden(), path)
    assert path.read_text().startswith("# Written by `pmu-harness mutants --record`")
    assert load_scores(path) == golden()
    assert load_scores(tmp_path / "none.yaml") == []


def test_a_bad_run_is_refused_with_where_each_problem_is() -> None:
    data = json.loads(RUN.read_text())
    data["mutants"][0]["name"] = "deny-ignore"
    data["mutants"][1]["status"] = "dead"
    data["mutants"][2]["killed_by"] = []
    del data["meta"]["kernel"]
    with pytest.raises(UsageError) as info:
        scores_from_run(data, RUN, KNOWN)
    text = str(info.value)
    assert "mutants[0].name: unknown mutant 'deny-ignore'" in text
    assert "did you mean 'deny-ignored'" in text
    assert "mutants[1].status: expected one of killed, survived, errored, not 'dead'" in text
    assert "mutants[2].killed_by: a killed mutant names the cases that killed it" in text
    assert "mutants[3].kernel: expected a non-empty string, not None" in text
    with pytest.raises(UsageError, match="expected a mutants run's JSON"):
        scores_from_run([1], RUN, KNOWN)


def test_a_hand_edited_scores_file_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "scores.yaml"
    path.write_text("scores:\n  - mutant: a\n    kernel: k\n    suite: s\n    status: maybe\n"
                    "    date: d\n    run_dir: r\n")
    with pytest.raises(UsageError, match=r"scores.yaml:5: status: expected one of killed"):
        load_scores(path)
