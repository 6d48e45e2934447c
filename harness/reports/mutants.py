"""The report of a mutants run: a table (mutant, killed or survived, by which cases, time),
the mutation score, and the same as JSON and as one HTML page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.atomicfile import write_atomically
from harness.results.mutants import MutantResult, MutantStatus, mutation_score

KILLERS_SHOWN = 3


def _case_label(name: str) -> str:
    """``scenario[machine,kernel,mode]`` -> ``scenario[machine]``: the kernel is the mutant's
    and the mode is in the table's heading."""
    scenario, _, rest = name.partition("[")
    return f"{scenario}[{rest.split(',')[0]}]" if rest else name


def killers(result: MutantResult) -> str:
    labels = list(dict.fromkeys(_case_label(n) for n in result.killed_by))
    more = len(labels) - KILLERS_SHOWN
    return ", ".join(labels[:KILLERS_SHOWN]) + (f" (+{more} more)" if more > 0 else "")


def score_line(results: Sequence[MutantResult]) -> str:
    killed, total = mutation_score(results)
    percent = f" ({100 * killed / total:.0f}%)" if total else ""
    line = f"mutation score: {killed}/{total} killed{percent}"
    survivors = [r.name for r in results if r.status is MutantStatus.SURVIVED]
    if survivors:
        line += f"; survived: {', '.join(survivors)} (no case failed: a hole in the scenarios)"
    erred = [r.name for r in results if r.status is MutantStatus.ERRORED]
    if erred:
        line += f"; errored: {', '.join(erred)} (only errors: neither killed nor survived)"
    return line


def mutants_table(results: Sequence[MutantResult]) -> str:
    rows = [("MUTANT", "SUITE", "RESULT", "KILLED BY", "BUILD S", "RUN S")]
    rows += [(r.name, r.suite or "-", r.status.value.upper(), killers(r) or "-",
              f"{r.build_seconds:.0f}", f"{r.suite_seconds:.0f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def mutants_json(results: Sequence[MutantResult], meta: Mapping[str, Any]) -> str:
    killed, total = mutation_score(results)
    return json.dumps({"meta": dict(meta), "score": {"killed": killed, "total": total},
                       "summary": score_line(results),
                       "mutants": [r.to_json() for r in results]}, indent=2) + "\n"


def write_mutants_json(results: Sequence[MutantResult], path: Path,
                       meta: Mapping[str, Any]) -> None:
    write_atomically(path, mutants_json(results, meta))


STATUS_COLOURS = {MutantStatus.KILLED: "#2e7d32", MutantStatus.SURVIVED: "#c62828",
                  MutantStatus.ERRORED: "#6a1b9a"}


def render_mutants_html(results: Sequence[MutantResult], meta: Mapping[str, Any]) -> str:
    rows = []
    for r in results:
        colour = STATUS_COLOURS[r.status]
        cases = "".join(f"<li><code>{escape(n)}</code>: {escape(why)}</li>"
                        for n, why in zip(r.killed_by, r.reasons, strict=True))
        rows.append(
            f"<tr><td><code>{escape(r.name)}</code><br><small>{escape(r.breaks)}</small></td>"
            f"<td>{escape(r.suite)}<br><small>{escape(r.kernel)}</small></td>"
            f"<td style=\"color:{colour};font-weight:bold\">{r.status.value}</td>"
            f"<td><ul>{cases}</ul></td><td>{r.build_seconds:.0f}</td>"
            f"<td>{r.suite_seconds:.0f}</td></tr>")
    facts = "".join(f"<li>{escape(str(k))}: {escape(str(v))}</li>" for k, v in meta.items())
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>pmu-harness mutants</title><style>body{font:14px system-ui,sans-serif;"
        "margin:14px}table{border-collapse:collapse}td,th{border:1px solid #d0d4da;"
        "padding:4px 8px;vertical-align:top;text-align:left}ul{margin:0;padding-left:16px}"
        "</style></head><body><h1>Mutants</h1>"
        f"<p><strong>{escape(score_line(results))}</strong></p><ul>{facts}</ul>"
        "<table><tr><th>mutant (what it breaks)</th><th>suite (kernel)</th><th>result</th>"
        "<th>killed by (why the case failed)</th><th>build s</th><th>suite s</th></tr>"
        + "".join(rows) + "</table></body></html>\n")


def write_mutants_html(results: Sequence[MutantResult], path: Path,
                       meta: Mapping[str, Any]) -> None:
    write_atomically(path, render_mutants_html(results, meta))


# A mutant is a test of the scenarios: killed passes, survived fails (a hole in them),
# errored is an error (it proves nothing either way).
JUNIT_TAGS = {MutantStatus.KILLED: "", MutantStatus.SURVIVED: "failure",
              MutantStatus.ERRORED: "error"}


def write_mutants_junit(results: Sequence[MutantResult], path: Path,
                        meta: Mapping[str, Any]) -> None:
    """JUnit XML: one ``testcase`` per mutant, named after it."""
    tags = [JUNIT_TAGS[r.status] for r in results]
    suite = ET.Element("testsuite", name="pmu-harness mutants", tests=str(len(results)),
                       failures=str(tags.count("failure")), errors=str(tags.count("error")))
    for result, tag in zip(results, tags, strict=True):
        case = ET.SubElement(suite, "testcase", classname="mutants", name=result.name,
                             time=f"{result.build_seconds + result.suite_seconds:.3f}")
        if tag:
            element = ET.SubElement(case, tag, message=f"{result.status.value}: "
                                    f"{result.breaks}"[:500], type=result.status.value)
            element.text = (f"no case failed on {result.name}: a hole in the scenarios"
                            if result.status is MutantStatus.SURVIVED else
                            f"only errors on {result.name}; see {result.run_dir}")
        ET.SubElement(case, "system-out").text = f"artefacts: {result.run_dir}"
    write_atomically(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
