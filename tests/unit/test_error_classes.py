"""One error class per result: what each class gives every consumer (exit code, JUnit
``type``, the KTAP line, the HTML cell, avocado's status), written out by hand here so a
change to ``results.CLASSES`` has to change this table too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import defusedxml.ElementTree as ET
import pytest

from harness.avocado_plugins.matrix import avocado_status
from harness.errors import InfraError, UsageError
from harness.paths import SCENARIOS_DIR
from harness.plan import Case
from harness.reports.html import render_html
from harness.reports.junit import junit
from harness.reports.ktap import ktap
from harness.results import (
    CaseResult,
    ErrorClass,
    Outcome,
    class_of_exception,
    exit_code,
)
from harness.scenario.discover import load_scenarios

# class, the outcome it comes with, exit code, JUnit element and type, KTAP line after the
# name, avocado status
EXPECTED = [
    (ErrorClass.KERNEL_FAILURE, Outcome.FAIL, 1, "failure",
     "# kernel-failure: why", "fail"),
    (ErrorClass.SCENARIO_ERROR, Outcome.ERROR, 2, "error",
     "# ERROR scenario-error: why", "error"),
    (ErrorClass.INFRASTRUCTURE, Outcome.ERROR, 125, "error",
     "# ERROR infrastructure: why", "error"),
    (ErrorClass.INCONCLUSIVE, Outcome.INCONCLUSIVE, 125, "error",
     "# ERROR inconclusive: why", "error"),
    (ErrorClass.HARNESS_BUG, Outcome.ERROR, 125, "error",
     "# ERROR harness-bug: why", "error"),
    (ErrorClass.TIMEOUT, Outcome.NOT_RUN, 125, "error",
     "# TIMEOUT timeout: why", "interrupted"),
    (ErrorClass.CANCELED, Outcome.NOT_RUN, 125, "error",
     "# ERROR canceled: why", "cancel"),
]


def a_case() -> Case:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == "member-deny"]
    return Case(scenario, "max", "debian-6.1", "probe")


def a_result(error_class: ErrorClass, outcome: Outcome) -> CaseResult:
    return replace(a_case().result(outcome, "why", error_class), artefacts="/r/x",
                   kernel_version="6.1.192")


def test_every_class_is_in_the_table() -> None:
    assert {row[0] for row in EXPECTED} == set(ErrorClass)


@pytest.mark.parametrize(("error_class", "outcome", "code", "element", "ktap_tail", "avocado"),
                         EXPECTED, ids=[row[0].value for row in EXPECTED])
def test_what_each_class_gives(tmp_path: Path, error_class: ErrorClass, outcome: Outcome,
                               code: int, element: str, ktap_tail: str, avocado: str) -> None:
    result = a_result(error_class, outcome)
    passed = replace(a_case().result(Outcome.PASS, "ok"), name="other[max,debian-6.1,probe]")
    assert exit_code([passed, result]) == code
    junit([result], tmp_path / "j.xml")
    (case,) = ET.fromstring((tmp_path / "j.xml").read_bytes())
    (node,) = [n for n in case if n.tag != "system-out"]
    assert (node.tag, node.attrib["type"]) == (element, error_class.value)
    assert ktap([result]).splitlines()[2] == f"not ok 1 {result.name} {ktap_tail}"
    html = render_html([result])
    assert f'class="badge {outcome.value} ec-{error_class.value}"' in html
    assert f"{result.name}: {outcome.value} ({error_class.value}) \u2014 why" in html
    assert avocado_status(result) == (avocado, f"pmu-harness {error_class.value}")


def test_a_pass_and_a_skip_have_no_class_and_say_so_everywhere(tmp_path: Path) -> None:
    passed, skipped = a_case().result(Outcome.PASS, "ok"), a_case().result(Outcome.SKIP, "s")
    assert passed.error_class is None and skipped.error_class is None
    assert avocado_status(passed) == ("pass", None)
    assert avocado_status(skipped) == ("skip", None)
    assert ktap([passed, skipped]).splitlines()[2:4] == [
        f"ok 1 {passed.name}", f"ok 2 {skipped.name} # SKIP s"]


@pytest.mark.parametrize(("raised", "error_class"), [
    (UsageError("bad"), ErrorClass.SCENARIO_ERROR),
    (InfraError("qemu died"), ErrorClass.INFRASTRUCTURE),
    (OSError(28, "No space left on device"), ErrorClass.INFRASTRUCTURE),
    (KeyboardInterrupt(), ErrorClass.CANCELED),
    (KeyError("x"), ErrorClass.HARNESS_BUG),
])
def test_the_class_of_an_error_comes_from_what_was_raised(raised: BaseException,
                                                          error_class: ErrorClass) -> None:
    assert class_of_exception(raised) is error_class


def test_a_result_that_breaks_the_invariant_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="a result of fail cannot be 'infrastructure'"):
        a_case().result(Outcome.FAIL, "x", ErrorClass.INFRASTRUCTURE)
    with pytest.raises(ValueError, match="a result of pass has no error class"):
        a_case().result(Outcome.PASS, "x", ErrorClass.CANCELED)
