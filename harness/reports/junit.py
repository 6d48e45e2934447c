"""JUnit XML for CI: one ``testcase`` per case, named ``scenario[machine,kernel,mode]``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.atomicfile import write_atomically
from harness.results import CaseResult, Outcome


def junit(results: Sequence[CaseResult], path: Path) -> None:
    """JUnit XML; test names are ``scenario[machine,kernel,mode]``, unique per matrix."""
    counts = Counter(r.outcome for r in results)
    suite = ET.Element("testsuite", name="pmu-harness", tests=str(len(results)),
                       failures=str(counts[Outcome.FAIL]),
                       errors=str(counts[Outcome.ERROR] + counts[Outcome.INCONCLUSIVE]),
                       skipped=str(counts[Outcome.SKIP]))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=result.scenario,
                             name=result.name, time=f"{result.seconds:.3f}")
        tag = {Outcome.FAIL: "failure", Outcome.ERROR: "error",
               Outcome.INCONCLUSIVE: "error", Outcome.SKIP: "skipped"}.get(result.outcome)
        if tag:
            element = ET.SubElement(case, tag, message=result.reason[:500])
            element.text = "\n".join(c.message() for c in result.checks) or result.reason
        if result.artefacts:
            ET.SubElement(case, "system-out").text = f"artefacts: {result.artefacts}"
    write_atomically(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
