"""The pure parts of a mutants run: the catalog, choosing mutants, judging one from its
cases, the score and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import InfraError, UsageError
from harness.execute.pool import PoolResult
from harness.images.profiles import SourceOverrides
from harness.mutation import MUTANTS_DIR, Mutant, choose, load_mutants, run_all, run_mutants
from harness.plan import Group, Plan, RunOptions
from harness.reports.mutants import mutants_json, mutants_table, render_mutants_html, score_line
from harness.results import CaseResult, Outcome, class_of_outcome
from harness.results.mutants import MutantResult, MutantStatus, judge_mutant, mutation_score

# The list of planted bugs, by the names the catalog gives them.
REQUIRED = {"deny-ignored", "default-inverted", "first-rule-every-filter", "pmceid-not-masked",
            "cycle-counter-unfiltered", "range-end-off-by-one", "v80-width-not-enforced",
            "no-ebusy-after-init", "per-vcpu-filter", "sw-incr-filterable",
            "empty-range-no-default", "unknown-action-accepted", "warn-in-filter-path"}


def result(name: str, outcome: Outcome, reason: str = "r") -> CaseResult:
    return CaseResult(name=name, scenario=name.split("[")[0], machine="max",
                      kernel="filter-v3", mode="probe", outcome=outcome, reason=reason,
                      error_class=class_of_outcome(outcome))


def test_the_catalog_holds_every_required_mutant_with_its_patch() -> None:
    mutants = {m.name: m for m in load_mutants()}
    assert set(mutants) >= REQUIRED
    for mutant in mutants.values():
        # One patch per kernel it is ported to; a bug in a behaviour 5.10 lacks has no
        # patch of its own directory (guest-pmuver-ignored: 6.12 only).
        assert mutant.ports, mutant.name
        for _, directory in mutant.ports:
            (patch,) = directory.glob("*.patch")
            assert f"MUTANT {mutant.name}" in patch.read_text()
        assert mutant.breaks
    assert {m.name for m in mutants.values() if m.suite == "mutants"} >= REQUIRED
    # The heap-corrupting ones and the leak run where KASAN and kmemleak can see them.
    assert {m.name for m in mutants.values() if m.suite == "mutants-debug"} == {
        "filter-double-free", "range-end-wraps", "filter-leaked"}


def test_a_bad_catalog_is_a_located_error(tmp_path: Path) -> None:
    catalog = tmp_path / "mutants.yaml"
    catalog.write_text("mutants:\n  - name: x\n    directory: ../../etc\n    breaks: y\n"
                       "  - name: z\n"
                       "  - name: w\n    directory: deny-ignored\n    breaks: y\n"
                       "    suite: mutant\n"
                       "  - name: v\n    directory: deny-ignored\n    breaks: y\n"
                       "    killed_by: [member-deny]\n")
    with pytest.raises(UsageError) as info:
        load_mutants(catalog)
    text = str(info.value)
    assert "mutants.yaml:3: directory: no patch directory 'etc'" in text
    assert "mutants.yaml:5: directory: expected a non-empty string" in text
    assert "mutants.yaml:9: suite: unknown suite 'mutant'" in text
    assert "mutants.yaml:13: killed_by: no longer read: which cases kill a mutant is " \
           "measured" in text


def test_choose_by_suite_and_by_name() -> None:
    mutants = [Mutant("a", MUTANTS_DIR, "x"), Mutant("b", MUTANTS_DIR, "y", "mutants-debug")]
    assert [m.name for m in choose(mutants, [])] == ["a"]
    assert [m.name for m in choose(mutants, [], suite="mutants-debug")] == ["b"]
    assert [m.name for m in choose(mutants, ["b", "a", "b"])] == ["b", "a"]
    with pytest.raises(UsageError, match="unknown mutant 'c'"):
        choose(mutants, ["c"])


def test_a_mutant_without_a_port_to_the_kernel_is_left_out_of_its_default_run() -> None:
    mutants = {m.name: m for m in load_mutants()}
    only_612 = mutants["guest-pmuver-ignored"]
    assert [kernel for kernel, _ in only_612.ports] == ["source-6.12"]
    assert only_612 not in choose(list(mutants.values()), [], "filter-v3")
    assert only_612 in choose(list(mutants.values()), [], "source-6.12")
    with pytest.raises(UsageError, match="not ported to filter-v3"):
        choose(list(mutants.values()), ["guest-pmuver-ignored"], "filter-v3")


def test_a_failed_case_kills_errors_alone_do_not() -> None:
    passed, failed = result("p[max]", Outcome.PASS), result("f[max]", Outcome.FAIL, "why")
    erred = result("e[max]", Outcome.ERROR)
    assert judge_mutant([passed, failed, erred]) == (MutantStatus.KILLED, (failed,))
    assert judge_mutant([passed, erred]) == (MutantStatus.ERRORED, ())
    skipped = result("s[max]", Outcome.SKIP)
    assert judge_mutant([passed, skipped]) == (MutantStatus.SURVIVED, ())


def mutant(name: str, status: MutantStatus, killed_by: tuple[str, ...] = ()) -> MutantResult:
    return MutantResult(name, "breaks it", status, killed_by,
                        tuple(f"reason {i}" for i in range(len(killed_by))), 12.4, 80.6, 37,
                        f"/r/{name}", "mutants", "filter-v3")


def test_score_table_and_reports() -> None:
    results = [mutant("a", MutantStatus.KILLED,
                      ("m[max,filter-v3,probe]", "m[cortex-a57,filter-v3,probe]",
                       "n[max,filter-v3,probe]", "o[max,filter-v3,probe]",
                       "p[max,filter-v3,probe]")),
               mutant("b", MutantStatus.SURVIVED), mutant("c", MutantStatus.ERRORED)]
    assert mutation_score(results) == (1, 3)
    assert score_line(results) == (
        "mutation score: 1/3 killed (33%); survived: b (no case failed: a hole in the "
        "scenarios); errored: c (only errors: neither killed nor survived)")
    table = mutants_table(results).splitlines()
    assert table[0].split() == ["MUTANT", "SUITE", "RESULT", "KILLED", "BY", "BUILD", "S",
                                "RUN", "S"]
    assert table[1].split() == ["a", "mutants", "KILLED", "m[max],", "m[cortex-a57],",
                                "n[max]", "(+2", "more)", "12", "81"]
    assert table[2].split() == ["b", "mutants", "SURVIVED", "-", "12", "81"]
    data = json.loads(mutants_json(results, {"suite": "s"}))
    assert data["score"] == {"killed": 1, "total": 3}
    assert data["mutants"][0]["killed_by"][1] == "m[cortex-a57,filter-v3,probe]"
    html = render_mutants_html([replace(results[0], breaks="<b>")], {"suite": "<s>"})
    assert "&lt;b&gt;" in html and "&lt;s&gt;" in html and "<b>" not in html


def _fake_run(monkeypatch: pytest.MonkeyPatch, outcomes: dict[str, Outcome]) -> list[str]:
    """``run_mutants`` with the builds and the workers replaced: each run's cases get the
    outcome given for its directory (``unmutated`` or the mutant's name)."""
    from harness import mutation
    from harness.execute import prebuild

    runs: list[str] = []

    def fake_groups(groups: object, run_dir: Path, *args: object) -> PoolResult:
        runs.append(run_dir.name)
        return PoolResult([result(f"s[max,filter-v3,probe]@{run_dir.name}",
                                  outcomes[run_dir.name])])

    monkeypatch.setattr(prebuild, "build_image_set", lambda *a, **k: None)
    monkeypatch.setattr(mutation, "run_groups", fake_groups)
    return runs


def _plan(kernel: str = "filter-v3") -> Plan:
    return Plan((Group("max", kernel, ()),), (), RunOptions())


def _mutant(name: str, breaks: str = "x", kernel: str = "filter-v3") -> Mutant:
    return Mutant(name, MUTANTS_DIR, breaks, ports=((kernel, MUTANTS_DIR / name),))


@pytest.mark.parametrize(("baseline", "error"), [(Outcome.FAIL, UsageError),
                                                 (Outcome.ERROR, InfraError)])
def test_an_unmutated_kernel_that_does_not_pass_stops_the_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, baseline: Outcome,
        error: type[Exception]) -> None:
    runs = _fake_run(monkeypatch, {"unmutated": baseline, "a": Outcome.FAIL})
    with pytest.raises(error, match="the unmutated kernel does not pass the suite"):
        run_mutants(_plan(), [_mutant("a")], tmp_path, 1, print, print)
    assert runs == ["unmutated"]  # no mutant was run


def test_each_mutant_is_judged_after_the_unmutated_run(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    runs = _fake_run(monkeypatch, {"unmutated": Outcome.PASS, "a": Outcome.FAIL,
                                   "b": Outcome.PASS})
    said: list[str] = []
    run = run_mutants(_plan(), [_mutant("a"), _mutant("b", "y")],
                      tmp_path, 1, print, said.append)
    assert runs == ["unmutated", "a", "b"]
    assert [(m.name, m.status) for m in run.mutants] == [("a", MutantStatus.KILLED),
                                                         ("b", MutantStatus.SURVIVED)]
    assert said[0].startswith("unmutated: 1 case(s) passed")


def _record_options(monkeypatch: pytest.MonkeyPatch) -> dict[str, RunOptions]:
    """``run_mutants`` with fake builds and workers that keep each run's options (the
    unmutated run passes, every mutant is killed)."""
    from harness import mutation

    seen: dict[str, RunOptions] = {}

    def fake_groups(groups: object, run_dir: Path, options: RunOptions,
                    *args: object) -> PoolResult:
        seen[run_dir.name] = options
        return PoolResult([result(f"s[max,k,probe]@{run_dir.name}",
                                  Outcome.PASS if run_dir.name == "unmutated" else Outcome.FAIL)])

    _fake_run(monkeypatch, {})
    monkeypatch.setattr(mutation, "run_groups", fake_groups)
    return seen


def test_only_the_unmutated_kernel_may_restore_or_save_l1_snapshots(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = _record_options(monkeypatch)
    run_mutants(_plan(), [_mutant("a")], tmp_path, 1, print, print)
    assert {name: options.snapshots for name, options in seen.items()} == {
        "unmutated": True, "a": False}


def test_a_mutant_is_its_kernels_patch_judged_by_that_kernels_prediction(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # filter-v3 + a planted bug is still predicted as v3 (not as an unknown series, which
    # would be judged by 5.10's version rules); on source-6.12 it is the 6.12 rules, and
    # the patch is the mutant's 6.12 port.
    seen = _record_options(monkeypatch)
    run_mutants(_plan(), [_mutant("a")], tmp_path / "v3", 1, print, print)
    assert seen["a"].overrides == SourceOverrides(series=(MUTANTS_DIR / "a",), revision="v3")
    assert seen["unmutated"].overrides == SourceOverrides(revision="v3")
    ported = Mutant("b", MUTANTS_DIR, "y", ports=(("filter-v3", MUTANTS_DIR / "b"),
                                                  ("source-6.12", MUTANTS_DIR / "b/6.12")))
    run_mutants(_plan("source-6.12"), [ported], tmp_path / "612", 1, print, print)
    assert seen["b"].overrides == SourceOverrides(series=(MUTANTS_DIR / "b/6.12",))


def test_mutants_are_chosen_by_the_kernel_they_are_ported_to() -> None:
    both = Mutant("b", MUTANTS_DIR, "y", ports=(("filter-v3", MUTANTS_DIR / "b"),
                                                ("source-6.12", MUTANTS_DIR / "b/6.12")))
    old = _mutant("a")
    assert choose([old, both], [], "source-6.12") == [both]
    assert choose([old, both], [], "filter-v3") == [old, both]
    with pytest.raises(UsageError, match="mutant 'a' is not ported to source-6.12 "
                                         r"\(ported: filter-v3\)"):
        choose([old, both], ["a"], "source-6.12")


def test_the_catalog_finds_each_port_on_disk() -> None:
    mutants = {m.name: m for m in load_mutants()}
    for mutant in mutants.values():
        own = any(mutant.directory.glob("*.patch"))  # guest-pmuver-ignored: 6.12 only
        assert mutant.patches_for("filter-v3") == (mutant.directory if own else None)
        port = mutant.directory / "6.12"
        assert mutant.patches_for("source-6.12") == (port if port.is_dir() else None)


def test_all_runs_each_mutant_on_its_suite_and_names_the_unported(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness import mutation

    runs = _fake_run(monkeypatch, {"unmutated": Outcome.PASS, "a": Outcome.FAIL,
                                   "b": Outcome.FAIL})
    kernels = {"mutants": "filter-v3", "mutants-debug": "filter-v3-oob-fix-debug"}
    monkeypatch.setattr(mutation, "base_plan",
                        lambda request: _plan(kernels[request.suite]))
    a = _mutant("a")
    b = Mutant("b", MUTANTS_DIR, "y", "mutants-debug",
               (("filter-v3-oob-fix-debug", MUTANTS_DIR / "b"),))
    only_612 = Mutant("c", MUTANTS_DIR, "z", ports=(("source-6.12", MUTANTS_DIR / "c/6.12"),))
    everything = run_all([a, only_612, b], tmp_path, 1, print, print)
    assert runs == ["unmutated", "a", "unmutated", "b"]
    assert [(m.name, m.suite, m.kernel, m.status) for m in everything.mutants] == [
        ("a", "mutants", "filter-v3", MutantStatus.KILLED),
        ("b", "mutants-debug", "filter-v3-oob-fix-debug", MutantStatus.KILLED)]
    assert everything.not_run == {
        "c": "not ported to filter-v3, the kernel of suite mutants"}
