"""Reviews assembled again from the inputs of real runs (``tests/data/review/<name>/``:
``review-inputs.json`` as ``pmu-harness review`` wrote it, and the ``review.txt`` it
printed): the judging, the analysis per behaviour and the mail, on what real kernels did.
``refresh.py`` there re-renders the goldens after a deliberate change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT
from harness.review.assemble import assemble
from harness.review.inputs import inputs_from_json
from harness.review.mail import WIDTH, render_mail
from harness.review.model import Review

GOLDEN = PROJECT_ROOT / "tests/data/review"
CAPTURES = sorted(p.parent for p in GOLDEN.glob("*/review-inputs.json"))


def _review(name: str) -> Review:
    return assemble(inputs_from_json(json.loads((GOLDEN / name / "review-inputs.json")
                                                .read_text())))


def test_there_are_captures() -> None:
    assert {p.name for p in CAPTURES} >= {"v3-on-filter-base", "v3-against-v2",
                                          "mutant-on-source-6.12"}


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_the_mail_is_what_the_real_run_printed(capture: Path) -> None:
    mail = render_mail(_review(capture.name))
    assert mail == (capture / "review.txt").read_text()
    assert max(len(line) for line in mail.splitlines()) <= WIDTH


def test_the_posted_v3_on_the_base_does_not_depart_from_the_documented_api() -> None:
    review = _review("v3-on-filter-base")
    assert review.departures == () and review.unjudged == () and review.health == ()
    assert render_mail(review).splitlines()[4] == (
        "Verdict: no departure from the documented API of Linux 5.10.223.")
    # Against the base (no FILTER at all) it adds the filter itself.
    assert "filter-api" in {b.id for b in review.behaviours if b.vs_base is not None}


def test_v3_against_v2_changes_exactly_what_v3_changed() -> None:
    # v3 masked PMCEID with the filter and sized the event space by the PMU's version
    # (10 bits on ARMv8.0); nothing else differs from v2 (facts.md §6).
    review = _review("v3-against-v2")
    assert {b.id: b.vs_against.kind for b in review.behaviours if b.vs_against} == {
        "event-space-by-pmu-version": "adds", "pmceid-masked-by-filter": "adds"}
    assert review.departures == ()


def test_a_planted_bug_on_6_12_is_named_by_what_breaks() -> None:
    # deny-ignored ported to 6.12: a DENY range is dropped. No kernel rule explains that
    # (each one that fits some cases is contradicted by others, e.g. the ALLOW-first ones,
    # which still mask), so the behaviours are the symptoms, and the review exits 1.
    review = _review("mutant-on-source-6.12")
    assert [b.title for b in review.departures] == [
        "a filtered event still counts", "PMCCNTR counts though CPU_CYCLES is filtered",
        "a filtered event is still advertised in PMCEID"]
    assert all(b.vs_base is not None and b.vs_base.kind == "breaks"
               for b in review.departures)
    assert "member-deny[max,probe]" in {r.case for b in review.departures
                                        for r in (b.vs_api.cases if b.vs_api else ())}


def test_with_kasan_the_posted_v3_shows_the_read_that_9529aaa056ed_fixed() -> None:
    # `review --debug`: base and series built with KASAN and lockdep, on cortex-a57 (an
    # ARMv8.0 PMU, where the filter bitmap is 1024 bits and PMCEID's high words were read
    # past it). The registers look right; only the kernel-health check sees it.
    review = _review("v3-debug-on-filter-base")
    assert [(f.role, f.case) for f in review.health] == [
        ("series", "event-space-width[cortex-a57,probe]")]
    assert "BUG: KASAN: use-after-free in kvm_pmu_get_pmceid" in review.health[0].message
    assert [b.title for b in review.departures] == ["what L1's kernel printed (splats)"]
