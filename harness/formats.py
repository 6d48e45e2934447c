"""Machine-readable reports for CI: KTAP (kernel developers' format) and JUnit XML.

Both take the results of a run that just finished (``CaseResult``) or records read back
from ``results.json`` files (``ResultRecord``, e.g. the merged shards of ``pmu-harness
report``); the output is the same for both.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.atomicfile import write_atomically
from harness.results import ResultRecord, as_records
from harness.runner import CaseResult
from harness.verdict import Outcome

Results = Sequence[CaseResult | ResultRecord]


def _ktap_line(number: int, result: ResultRecord) -> str:
    name = result.name
    reason = " ".join(result.reason.split()).replace("#", "")
    if result.outcome is Outcome.PASS:
        return f"ok {number} {name}"
    if result.outcome is Outcome.SKIP:
        return f"ok {number} {name} # SKIP {reason}"
    if result.outcome is Outcome.INCONCLUSIVE:
        return f"not ok {number} {name} # inconclusive: {reason}"
    return f"not ok {number} {name} # {result.outcome.value}: {reason}"


def ktap(cases: Results) -> str:
    """KTAP v1 with one line per case and the selftests' ``# Totals:`` line."""
    results = as_records(cases)
    lines = ["KTAP version 1", f"1..{len(results)}"]
    lines += [_ktap_line(i, r) for i, r in enumerate(results, start=1)]
    counts = Counter(r.outcome for r in results)
    errors = counts[Outcome.ERROR] + counts[Outcome.INCONCLUSIVE]
    lines.append(f"# Totals: pass:{counts[Outcome.PASS]} fail:{counts[Outcome.FAIL]} "
                 f"xfail:0 xpass:0 skip:{counts[Outcome.SKIP]} error:{errors}")
    return "\n".join(lines) + "\n"


def junit(cases: Results, path: Path) -> None:
    """JUnit XML; test names are ``scenario[machine,kernel,mode]``, unique per matrix."""
    results = as_records(cases)
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
