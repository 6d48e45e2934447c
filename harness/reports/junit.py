"""JUnit XML for CI: one ``testcase`` per case, named ``scenario[machine,kernel,mode]``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.atomicfile import write_atomically
from harness.results import CLASSES, CaseResult, Outcome


def junit(results: Sequence[CaseResult], path: Path) -> None:
    """JUnit XML; test names are ``scenario[machine,kernel,mode]``, unique per matrix."""
    tags = [_element(r) for r in results]
    counts = Counter(tags)
    suite = ET.Element("testsuite", name="pmu-harness", tests=str(len(results)),
                       failures=str(counts["failure"]), errors=str(counts["error"]),
                       skipped=str(counts["skipped"]))
    for result, tag in zip(results, tags, strict=True):
        case = ET.SubElement(suite, "testcase", classname=result.scenario,
                             name=result.name, time=f"{result.seconds:.3f}")
        if tag == "skipped":
            ET.SubElement(case, tag, message=result.reason[:500])
        elif tag:
            # ``type`` is the error class: CI tools show it beside the message.
            kind = result.error_class.value if result.error_class else result.outcome.value
            element = ET.SubElement(case, tag, message=result.reason[:500], type=kind)
            element.text = "\n".join(c.message() for c in result.checks) or result.reason
        if result.artefacts:
            ET.SubElement(case, "system-out").text = f"artefacts: {result.artefacts}"
    write_atomically(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def _element(result: CaseResult) -> str:
    """``failure`` (the code under test), ``error`` (anything else that kept a verdict
    away), ``skipped``, or "" for a pass: decided by the error class."""
    if result.outcome is Outcome.SKIP:
        return "skipped"
    if result.error_class is None:
        return ""
    return CLASSES[result.error_class].junit
