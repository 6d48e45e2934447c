"""The review's pure parts: threading, compiler warnings, judging against the API with the
rule that explains a failing check, and the comparison of kernels per behaviour."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.execute.case import pmu_model
from harness.kernelrules import KernelVersion
from harness.machine.profile import load_machine_profile
from harness.observation import Observation, parse_probe_output
from harness.paths import PROJECT_ROOT
from harness.results import Outcome
from harness.review.analysis import JudgedCase, behaviours
from harness.review.judging import CaseJudgement, judge_against_api
from harness.review.thread import thread_of
from harness.review.warnings import new_warnings
from harness.scenario.discover import load_scenario

DATA = PROJECT_ROOT / "tests/data"
V510 = KernelVersion.parse("5.10.223-1")


def test_a_b4_mbox_is_answered_under_its_cover_letter() -> None:
    thread = thread_of(DATA / "review/v3.mbx")
    assert thread.subject == "Re: [PATCH v3 0/5] KVM: arm64: Filtering PMU events"
    assert thread.message_id == "<20200908075830.1161921-1-maz@kernel.org>"
    assert thread.references == ("<20200908075830.1161921-1-maz@kernel.org>",)


def test_patches_without_their_cover_still_answer_it(tmp_path: Path) -> None:
    # What `b4 am` writes: the patches only, each In-Reply-To the cover.
    text = (DATA / "review/v3.mbx").read_text()
    patches = text[text.index("From 0000"):]
    mbox = tmp_path / "v3.mbx"
    mbox.write_text(patches)
    thread = thread_of(mbox)
    assert thread.message_id == "<20200908075830.1161921-1-maz@kernel.org>"
    assert thread.subject.startswith("Re: [PATCH 1/5] KVM: arm64: pmu: check the PMU")


def test_a_series_that_names_no_message_gets_no_thread(tmp_path: Path) -> None:
    patch = tmp_path / "0001-x.patch"
    patch.write_text("Subject: [PATCH] x\n\n---\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n")
    thread = thread_of(tmp_path)
    assert thread.subject == "Re: [PATCH] x" and thread.message_id == ""


def test_only_warnings_new_in_touched_files_are_reported() -> None:
    base = ("../src/arch/arm64/kvm/pmu-emul.c:10:5: warning: unused variable 'x' "
            "[-Wunused-variable]\n../src/kernel/fork.c:1:1: warning: old one\n")
    series = ("  CC      arch/arm64/kvm/pmu-emul.o\n"
              "../src/arch/arm64/kvm/pmu-emul.c:12:5: warning: unused variable 'x' "
              "[-Wunused-variable]\n"
              "../src/arch/arm64/kvm/pmu-emul.c:40:9: warning: 'y' may be used "
              "uninitialized [-Wmaybe-uninitialized]\n"
              "../src/kernel/fork.c:2:1: warning: not touched\n")
    assert new_warnings(series, base, ["arch/arm64/kvm/pmu-emul.c"]) == [
        "arch/arm64/kvm/pmu-emul.c:40: warning: 'y' may be used uninitialized "
        "[-Wmaybe-uninitialized]"]


def _deny_cycles_on_max() -> tuple[Observation, Observation]:
    """Debian 5.10.223 on max, deny CPU_CYCLES with CPU_CYCLES and SW_INCR programmed: a
    real capture (tests/data/probe-runs)."""
    base = DATA / "probe-runs/chain-advertised/5.10-max"
    return (parse_probe_output(Path(f"{base}.filtered.json").read_text()),
            parse_probe_output(Path(f"{base}.control.json").read_text()))


def test_the_documented_kernel_passes_member_deny() -> None:
    seen, control = _deny_cycles_on_max()
    scenario = load_scenario(PROJECT_ROOT / "testcases/scenarios/member-deny.yaml",
                             "member-deny")
    judged = judge_against_api(scenario, pmu_model(load_machine_profile("max")), V510, seen,
                               control)
    assert judged.outcome is Outcome.PASS, [c.check.message() for c in judged.checks]
    assert not any(c.explained_by for c in judged.checks)


def test_an_unmasked_pmceid_is_explained_by_the_masking_rule() -> None:
    # v1 and v2 left PMCEID0 as the host's (0x20001 on max, facts.md §3): the same run with
    # that word fails against 5.10's API, and exactly one rule explains it.
    seen, control = _deny_cycles_on_max()
    unmasked = dataclasses.replace(seen, pmceid0=0x20001, advertised=frozenset({0x0, 0x11}))
    scenario = load_scenario(PROJECT_ROOT / "testcases/scenarios/member-deny.yaml",
                             "member-deny")
    judged = judge_against_api(scenario, pmu_model(load_machine_profile("max")), V510,
                               unmasked, control)
    failing = [c for c in judged.checks if c.check.outcome is Outcome.FAIL]
    assert [c.check.name for c in failing] == ["PMCEID bit of CPU_CYCLES (0x0011)"]
    assert failing[0].explained_by == ("pmceid-masked-by-filter",)


def test_behaviours_compare_the_series_with_its_base_and_the_api() -> None:
    seen, control = _deny_cycles_on_max()
    scenario = load_scenario(PROJECT_ROOT / "testcases/scenarios/member-deny.yaml",
                             "member-deny")
    pmu = pmu_model(load_machine_profile("max"))
    good = judge_against_api(scenario, pmu, V510, seen, control)
    bad = judge_against_api(scenario, pmu, V510, dataclasses.replace(
        seen, pmceid0=0x20001, advertised=frozenset({0x0, 0x11})), control)

    def case(judgement: CaseJudgement) -> JudgedCase:
        return JudgedCase("member-deny", "max", "probe", Outcome.PASS, "", "/a", judgement)

    # A series that masks PMCEID where its earlier revision did not: it adds the behaviour
    # against the earlier revision and does not depart from the API.
    found = behaviours({"series": [case(good)], "base": [case(good)], "against": [case(bad)]})
    assert [(b.id, b.vs_base, b.vs_api, b.vs_against and b.vs_against.kind)
            for b in found] == [("pmceid-masked-by-filter", None, None, "adds")]
    assert found[0].title == "PMCEID masked by the filter"
    # The other way round: the series breaks it, and departs from the API.
    broken = behaviours({"series": [case(bad)], "base": [case(good)]})
    assert [(b.id, b.vs_base and b.vs_base.kind, b.vs_api and b.vs_api.kind)
            for b in broken] == [("pmceid-masked-by-filter", "breaks", "departs")]
