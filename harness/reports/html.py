"""The HTML report: the matrix of scenarios x (kernel x machine), one coloured badge per mode.

One self-contained file (inline CSS, no scripts, no external resources) that a reviewer
opens from the results directory or from a CI artefact:

- a header with the verdict line, counts and the run's meta (suite, shards, jobs, time);
- the matrix: rows are scenario ids, columns kernels with their machines beneath; each cell
  holds one badge per mode, coloured by outcome, titled with the reason and linked to the
  case's artefacts directory;
- details of every case that failed, errored or was inconclusive: reason, checks and the
  reproducer bundle; a legend; and the verdict line again, last.

Every string from a result is escaped: reasons quote whatever a kernel or a tool printed.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.atomicfile import write_atomically
from harness.modes import MODES
from harness.results import (
    CLASSES,
    NEEDS_A_LOOK,
    CaseResult,
    Outcome,
    exit_code,
    summary_line,
)

WORST_FIRST = (Outcome.ERROR, Outcome.FAIL, Outcome.INCONCLUSIVE, Outcome.NOT_RUN,
               Outcome.PASS, Outcome.SKIP)
SYMBOLS = {Outcome.PASS: "\u2713", Outcome.FAIL: "\u2717", Outcome.ERROR: "!",
           Outcome.INCONCLUSIVE: "?", Outcome.SKIP: "\u2013", Outcome.NOT_RUN: "\u2205"}
LEGEND = (
    (Outcome.PASS, "every check held"),
    (Outcome.FAIL, "the kernel disagreed with the expectation (exit 1)"),
    (Outcome.ERROR, "no verdict: the badge's title names the error class (below)"),
    (Outcome.INCONCLUSIVE, "nothing proven, e.g. the unfiltered control did not count "
                           "either (exit 125)"),
    (Outcome.NOT_RUN, "never ran: interrupted, deadline or worker lost (run --resume)"),
    (Outcome.SKIP, "the scenario does not apply to this machine, kernel or mode"),
)
META_FIELDS = (("suite", "suite"), ("shard", "shard"), ("jobs", "jobs"),
               ("seconds", "wall seconds"), ("date", "date"), ("run_dir", "run dir"),
               ("sources", "merged from"))
EXIT_CLASS = {0: "ok", 1: "fail", 125: "error"}  # anything else (2, 5): "error"

CSS = """
:root { --pass: #2e7d32; --fail: #c62828; --error: #6a1b9a; --inconclusive: #f0a000;
  --skip: #9e9e9e; --line: #d0d4da; --muted: #5f6b7a; }
* { box-sizing: border-box; }
body { margin: 0; padding: 14px 14px 24px; color: #1d2329; background: #fff;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12.5px; }
a { color: #0b57d0; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
h3 { font-size: 14.5px; margin: 0 0 6px; }
.top { border-left: 6px solid var(--muted); padding: 8px 14px; background: #f6f8fa; }
.top.ok { border-color: var(--pass); } .top.fail { border-color: var(--fail); }
.top.error { border-color: var(--error); }
.verdict { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 600;
  font-size: 15px; margin: 4px 0; }
.counts { margin: 6px 0; }
.counts .badge { margin-right: 4px; }
.meta { display: flex; flex-wrap: wrap; gap: 2px 22px; margin: 6px 0 0; color: var(--muted); }
.meta div { display: flex; gap: 6px; } .meta dt { font-weight: 600; } .meta dd { margin: 0; }
.warning { color: var(--fail); font-weight: 600; margin: 6px 0 0; }
.badge { display: inline-block; min-width: 4.8em; padding: 1px 4px; border-radius: 3px;
  font-size: 11.5px; font-weight: 600; line-height: 17px; text-align: center;
  text-decoration: none; color: #fff; white-space: nowrap; }
a.badge:hover { outline: 2px solid #1d2329; outline-offset: 1px; }
.differs { display: inline-block; margin-left: 3px; padding: 0 3px; border-radius: 3px;
  background: #fff3cd; color: #5c3d00; font-size: 90%; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.error { background: var(--error); } .badge.skip { background: var(--skip); }
.badge.inconclusive { background: var(--inconclusive); color: #1d2329; }
.badge.not-run { background: #fff; color: var(--muted); border: 1px dashed var(--muted); }
.slot { display: inline-block; min-width: 4.8em; font-size: 11.5px; }
table.matrix { border-collapse: collapse; margin: 4px 0; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 3px 5px; }
.matrix thead th { background: #eef1f5; font-weight: 600; text-align: center;
  white-space: nowrap; }
.matrix thead th.kernel { font-size: 13.5px; }
.matrix thead th.machine { font-weight: 500; font-size: 12.5px; }
.kver { display: block; font-weight: 400; font-size: 11.5px; color: var(--muted); }
.matrix th.scenario { text-align: left; font-weight: 500; background: #fafbfc;
  min-width: 14em; max-width: 19em; }
.matrix th.scenario code { white-space: nowrap; }
.matrix th.scenario .tags { display: block; font-size: 11px; line-height: 1.25;
  color: var(--muted); font-weight: 400; }
.matrix th.scenario .more { font-size: 11px; margin-left: 6px; }
.matrix .kstart { border-left: 2px solid #9aa3ad; }
.matrix td.cell { text-align: center; white-space: nowrap; }
.matrix td.cell .badge + .badge, .matrix td.cell .slot + .badge,
.matrix td.cell .badge + .slot { margin-left: 2px; }
td.cell-pass { background: #edf7ee; } td.cell-fail { background: #fdecec; }
td.cell-error { background: #f4ecf8; } td.cell-inconclusive { background: #fff6dc; }
td.cell-skip { background: #f4f4f4; } td.cell-not-run { background: #fafafa; }
.matrix tbody tr:hover th, .matrix tbody tr:hover td { box-shadow: inset 0 0 0 999px
  rgba(0, 0, 0, .035); }
.case { border: 1px solid var(--line); border-left-width: 5px; border-radius: 3px;
  padding: 8px 12px; margin: 10px 0; max-width: 1240px; }
.case.fail { border-left-color: var(--fail); } .case.error { border-left-color: var(--error); }
.case.inconclusive { border-left-color: var(--inconclusive); }
.case:target { box-shadow: 0 0 0 3px #9ec5fe; }
.case .reason { margin: 4px 0 6px; overflow-wrap: anywhere; }
.case dl { margin: 4px 0 8px; display: grid; grid-template-columns: max-content 1fr;
  gap: 1px 10px; } .case dt { color: var(--muted); } .case dd { margin: 0;
  overflow-wrap: anywhere; }
table.checks { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 12.5px; }
.checks th, .checks td { border: 1px solid var(--line); padding: 2px 6px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
.checks th { background: #eef1f5; }
.checks col.c-name { width: 30%; } .checks col.c-exp, .checks col.c-obs { width: 14%; }
.checks col.c-res { width: 8.5em; } .checks .source { color: var(--muted); font-size: 11.5px; }
.checks tr.r-pass td, .checks tr.r-skip td { color: var(--muted); }
.checks tr.r-fail td { background: #fdecec; } .checks tr.r-error td { background: #f4ecf8; }
.checks tr.r-inconclusive td { background: #fff6dc; }
.back { margin: 6px 0 0; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; padding: 0;
  margin: 8px 0 2px; font-size: 12.5px; color: var(--muted); max-width: 1240px; }
.legend .badge { margin-right: 3px; }
.sample-empty { display: inline-block; width: 3em; height: 17px; vertical-align: middle;
  border: 1px solid var(--line); background: #fff; margin-right: 3px; }
.hint { margin: 2px 0; font-size: 12.5px; color: var(--muted); }
footer { margin-top: 22px; padding: 4px 14px; border-left: 6px solid var(--muted);
  background: #f6f8fa; }
footer.ok { border-color: var(--pass); } footer.fail { border-color: var(--fail); }
footer.error { border-color: var(--error); }
"""


def _natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key: debian-6.9 before debian-6.12. (Names come from results files: a run of
    digits too long for a version number is compared as text, never converted.)"""
    return [(0, int(part)) if part.isdigit() and len(part) < 19 else (1, part)
            for part in re.split(r"([0-9]+)", text) if part]


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _worst(outcomes: Iterable[Outcome]) -> Outcome:
    present = set(outcomes)
    return next(o for o in WORST_FIRST if o in present)


def artefacts_href(artefacts: str, base: Path | None) -> str:
    """A link to a case's artefacts directory: relative to ``base`` (the HTML file's
    directory) when both lie in one tree, else a ``file://`` URL."""
    target = Path(artefacts).absolute()
    if base is not None:
        start = base.absolute()
        if Path(os.path.commonpath([target, start])) != Path(target.anchor):
            return quote(os.path.relpath(target, start)) + "/"
    return target.as_uri() + "/"


class _Anchors:
    """Unique, URL-safe ``id``s for the details of each case."""

    def __init__(self, records: Iterable[CaseResult]) -> None:
        self.ids: dict[str, str] = {}
        used: set[str] = set()
        for record in records:
            base = "case-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", record.name).strip("-")
            anchor, n = base, 1
            while anchor in used:
                n += 1
                anchor = f"{base}-{n}"
            used.add(anchor)
            self.ids[record.name] = anchor


def _mode_order(modes: set[str]) -> list[str]:
    return [m for m in MODES if m in modes] + sorted(modes - set(MODES))


class _Matrix:
    """The records arranged as rows (scenarios) x columns (kernel, machine) x modes."""

    def __init__(self, records: Sequence[CaseResult]) -> None:
        self.cells: dict[tuple[str, str, str], dict[str, CaseResult]] = defaultdict(dict)
        versions: dict[str, set[str]] = defaultdict(set)
        tags: dict[str, set[str]] = defaultdict(set)
        for r in records:
            self.cells[(r.scenario, r.kernel, r.machine)][r.mode] = r
            tags[r.scenario].update(r.tags)
            if r.kernel_version:
                versions[r.kernel].add(r.kernel_version)
        self.scenarios = sorted({r.scenario for r in records})
        self.kernels = sorted({r.kernel for r in records}, key=_natural)
        self.machines = {k: sorted({r.machine for r in records if r.kernel == k}, key=_natural)
                         for k in self.kernels}
        self.columns = [(k, m) for k in self.kernels for m in self.machines[k]]
        self.modes = _mode_order({r.mode for r in records})
        self.column_modes = {
            (k, m): _mode_order({r.mode for r in records if (r.kernel, r.machine) == (k, m)})
            for k, m in self.columns}
        self.versions = {k: sorted(v, key=_natural) for k, v in versions.items()}
        self.tags = {s: sorted(t) for s, t in tags.items()}


def differs_from_final(record: CaseResult) -> bool:
    """Passed against its own revision's prediction, but not against the final API's."""
    return (record.final_api is not None and record.outcome is Outcome.PASS
            and record.final_api.outcome is not Outcome.PASS)


def _differs_mark(record: CaseResult) -> str:
    if record.final_api is None or not differs_from_final(record):
        return ""
    title = _e(f"against {record.final_api.revision}: {record.final_api.outcome.value} "
               f"\u2014 {record.final_api.reason}")
    return f'<span class="differs" title="{title}">\u2260{_e(record.final_api.revision)}</span>'


def _badge(record: CaseResult, base: Path | None) -> str:
    outcome = record.outcome
    label = f"{_e(record.mode)} {SYMBOLS[outcome]}{_differs_mark(record)}"
    error_class = record.error_class
    kind = f" ({error_class.value})" if error_class else ""
    title = _e(f"{record.name}: {outcome.value}{kind} \u2014 {record.reason}")
    classes = f"badge {outcome.value}" + (f" ec-{error_class.value}" if error_class else "")
    if record.artefacts:
        href = _e(artefacts_href(record.artefacts, base))
        return f'<a class="{classes}" href="{href}" title="{title}">{label}</a>'
    return f'<span class="{classes}" title="{title}">{label}</span>'


def _cell(matrix: _Matrix, scenario: str, kernel: str, machine: str,
          base: Path | None) -> str:
    kstart = " kstart" if machine == matrix.machines[kernel][0] else ""
    by_mode = matrix.cells.get((scenario, kernel, machine))
    if not by_mode:
        return f'<td class="cell empty{kstart}"></td>'
    worst = _worst(r.outcome for r in by_mode.values()).value
    parts = [_badge(by_mode[m], base) if m in by_mode else '<span class="slot"></span>'
             for m in matrix.column_modes[(kernel, machine)]]
    return f'<td class="cell cell-{worst}{kstart}">{"".join(parts)}</td>'


def _head(matrix: _Matrix) -> list[str]:
    kernels = []
    for kernel in matrix.kernels:
        version = " / ".join(matrix.versions.get(kernel, []))
        shown = f'<span class="kver">{_e(version)}</span>' if version else ""
        kernels.append(f'<th class="kernel kstart" colspan="{len(matrix.machines[kernel])}" '
                       f'scope="colgroup">{_e(kernel)}{shown}</th>')
    machines = [f'<th class="machine{" kstart" if i == 0 else ""}" scope="col">{_e(m)}</th>'
                for k in matrix.kernels for i, m in enumerate(matrix.machines[k])]
    modes = " \u00b7 ".join(matrix.modes)
    corner = (f'<th class="corner" rowspan="2" scope="col">scenario'
              f'<span class="kver">badges: {_e(modes)}</span></th>')
    return ["<thead>", f"<tr>{corner}{''.join(kernels)}</tr>",
            f"<tr>{''.join(machines)}</tr>", "</thead>"]


def _row_header(matrix: _Matrix, scenario: str, first_problem: dict[str, str]) -> str:
    more = ""
    if scenario in first_problem:
        more = f'<a class="more" href="#{first_problem[scenario]}">details</a>'
    tags = matrix.tags.get(scenario)
    shown = f'<span class="tags">{_e(", ".join(tags))}</span>' if tags else ""
    return f'<th class="scenario" scope="row"><code>{_e(scenario)}</code>{more}{shown}</th>'


def _matrix_table(matrix: _Matrix, anchors: _Anchors, problems: Sequence[CaseResult],
                  base: Path | None) -> list[str]:
    first_problem: dict[str, str] = {}
    for record in problems:
        first_problem.setdefault(record.scenario, anchors.ids[record.name])
    lines = ['<section id="matrix">', "<h2>Matrix</h2>", '<table class="matrix">',
             *_head(matrix), "<tbody>"]
    for scenario in matrix.scenarios:
        cells = "".join(_cell(matrix, scenario, k, m, base) for k, m in matrix.columns)
        lines.append(f"<tr>{_row_header(matrix, scenario, first_problem)}{cells}</tr>")
    lines += ["</tbody>", "</table>", "</section>"]
    return lines


def _check_rows(record: CaseResult) -> list[str]:
    rows = ['<table class="checks">', '<colgroup><col class="c-name"><col class="c-exp">'
            '<col class="c-obs"><col class="c-res"><col class="c-src"></colgroup>',
            "<thead><tr><th>check</th><th>expected</th><th>observed</th><th>result</th>"
            "<th>source</th></tr></thead>", "<tbody>"]
    for check in record.checks:
        result = check.outcome.value
        rows.append(
            f'<tr class="r-{result}"><td>{_e(check.name)}</td><td>{_e(check.expected)}</td>'
            f"<td>{_e(check.observed)}</td><td>{SYMBOLS[check.outcome]} {result}</td>"
            f'<td class="source">{_e(check.source)}</td></tr>')
    rows += ["</tbody>", "</table>"]
    return rows


def _facts(record: CaseResult, base: Path | None) -> list[str]:
    facts = [("machine \u00d7 kernel \u00d7 mode",
              _e(f"{record.machine} \u00d7 {record.kernel} \u00d7 {record.mode}")),
             ("kernel version", _e(record.kernel_version or "unknown")),
             ("seconds", _e(f"{record.seconds:.1f}"))]
    if record.error_class is not None:
        rule = CLASSES[record.error_class]
        facts.insert(0, ("error class", f"<code>{_e(record.error_class.value)}</code>: "
                                        f"{_e(rule.meaning)} (exit {rule.exit_code})"))
    if record.artefacts:
        href = _e(artefacts_href(record.artefacts, base))
        facts.append(("artefacts", f'<a href="{href}"><code>{_e(record.artefacts)}</code></a>'))
    if record.bundle:
        facts.append(("reproducer", f"<code>{_e(record.bundle)}</code>"))
        facts.append(("rerun", f"<code>pmu-harness rerun {_e(record.bundle)}</code>"))
    return ["<dl>", *(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts), "</dl>"]


def _details(problems: Sequence[CaseResult], anchors: _Anchors,
             base: Path | None) -> list[str]:
    lines = ['<section id="details">', f"<h2>Cases that need a look ({len(problems)})</h2>"]
    if not problems:
        lines.append("<p>None: every case passed or was skipped.</p>")
    for record in problems:
        outcome = record.outcome.value
        lines += [f'<article class="case {outcome}" id="{anchors.ids[record.name]}">',
                  f'<h3><span class="badge {outcome}">{outcome} {SYMBOLS[record.outcome]}'
                  f"</span> <code>{_e(record.name)}</code></h3>",
                  f'<p class="reason">{_e(record.reason)}</p>', *_facts(record, base)]
        if record.checks:
            lines += _check_rows(record)
        lines += ['<p class="back"><a href="#matrix">back to the matrix</a></p>', "</article>"]
    lines.append("</section>")
    return lines


def _revision_differences(records: Sequence[CaseResult]) -> list[str]:
    """Where a revision of the series (built from source) behaves otherwise than the final
    API predicts, as its own prediction says it should: the reviewer's list."""
    differing = [r for r in records if differs_from_final(r)]
    if not differing:
        return []
    lines = ['<section id="revisions">',
             f"<h2>Where revisions differ from the final API ({len(differing)})</h2>",
             "<p>Each case passed against its own revision's prediction; the final API's "
             "prediction fails these of its checks.</p>", "<ul>"]
    for record in differing:
        assert record.final_api is not None
        where = "; ".join(record.final_api.differs) or record.final_api.reason
        lines.append(f"<li><code>{_e(record.name)}</code> "
                     f"(revision {_e(record.kernel_revision or '?')}): {_e(where)}</li>")
    lines += ["</ul>", "</section>"]
    return lines


def _meta_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _state(records: Sequence[CaseResult]) -> str:
    """``ok``, ``fail`` or ``error``: the colour of the exit code these records give."""
    return EXIT_CLASS.get(exit_code(records), "error")


def _header(records: Sequence[CaseResult], meta: Mapping[str, Any],
            problems: int) -> list[str]:
    verdict = summary_line(records)
    state = _state(records)
    counts = {o: sum(1 for r in records if r.outcome is o) for o in WORST_FIRST}
    chips = "".join(f'<span class="badge {o.value}">{n} {o.value}</span>'
                    for o, n in counts.items() if n)
    fields = [(label, meta[key]) for key, label in META_FIELDS
              if meta.get(key) not in (None, "", [])]
    lines = [f'<header class="top {state}">', "<h1>pmu-harness report</h1>",
             f'<p class="verdict">{_e(verdict)}</p>',
             f'<p class="counts">{chips} <span class="mono">{len(records)} case(s)</span>'
             + (f' \u2014 <a href="#details">{problems} need a look</a>' if problems else "")
             + "</p>", '<dl class="meta">']
    lines += [f"<div><dt>{_e(label)}</dt><dd>{_e(_meta_value(value))}</dd></div>"
              for label, value in fields]
    lines.append("</dl>")
    lines += [f'<p class="warning">{_e(w)}</p>' for w in meta.get("warnings") or ()]
    lines.append("</header>")
    return lines


def _legend(records: Sequence[CaseResult]) -> list[str]:
    items = [f'<li><span class="badge {o.value}">{o.value} {SYMBOLS[o]}</span> {_e(meaning)}</li>'
             for o, meaning in LEGEND]
    items.append('<li><span class="sample-empty"></span> not in the matrix that ran</li>')
    items += [f"<li><code>{_e(c.value)}</code> {_e(rule.meaning)} (exit {rule.exit_code})"
              "</li>" for c, rule in CLASSES.items()]
    if any(differs_from_final(r) for r in records):
        items.append('<li><span class="badge pass">probe \u2713<span class="differs">'
                     '\u2260v3</span></span> a revision of the series did what its own '
                     "prediction says, and the final API predicts otherwise (listed below)</li>")
    return ['<section id="legend">', '<ul class="legend">', *items, "</ul>",
            '<p class="hint">Each badge links to the case\'s artefacts directory; hover it '
            "for the reason.</p>", "</section>"]


def render_html(records: Sequence[CaseResult], meta: Mapping[str, Any] | None = None,
                base: Path | None = None) -> str:
    """The whole report; artefact links are relative to ``base`` (the directory the HTML
    file will be in) when possible, else ``file://`` URLs."""
    meta = meta or {}
    matrix = _Matrix(records)
    order = {s: i for i, s in enumerate(matrix.scenarios)}
    columns = {c: i for i, c in enumerate(matrix.columns)}
    modes = {m: i for i, m in enumerate(matrix.modes)}
    problems = sorted((r for r in records if r.outcome in NEEDS_A_LOOK),
                      key=lambda r: (order[r.scenario], columns[(r.kernel, r.machine)],
                                     modes[r.mode]))
    anchors = _Anchors(problems)
    verdict = summary_line(records)
    state = _state(records)
    body = [*_header(records, meta, len(problems)), "<main>",
            *_matrix_table(matrix, anchors, problems, base), *_legend(records),
            *_revision_differences(records), *_details(problems, anchors, base), "</main>",
            f'<footer class="{state}"><p class="verdict" id="verdict">{_e(verdict)}</p>'
            "</footer>"]
    head = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>pmu-harness: {_e(verdict)}</title>", f"<style>{CSS}</style>", "</head>"]
    return "\n".join([*head, "<body>", *body, "</body>", "</html>"]) + "\n"


def write_html(records: Sequence[CaseResult], path: Path,
               meta: Mapping[str, Any] | None = None) -> None:
    """``render_html`` into ``path`` (written to a temporary file, then renamed)."""
    write_atomically(path, render_html(records, meta, base=path.absolute().parent))
