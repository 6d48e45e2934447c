"""``review.html``: the review as one page, each case linked to its artefacts (relative to
the page, so a published run directory keeps its links)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from harness.review.mail import comparisons, difference_of, reproduce, verdict_line
from harness.review.model import CaseRef, Review

STYLE = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
         "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}"
         ".adds{background:#dfd}.breaks,.departs{background:#fdd}.changes{background:#ffd}"
         "code{white-space:pre-wrap}")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(ref: CaseRef, base: Path) -> str:
    if not ref.artefacts:
        return _e(ref.case)
    target = os.path.relpath(ref.artefacts, base) if Path(ref.artefacts).is_absolute() \
        else ref.artefacts
    return f'<a href="{_e(target)}/">{_e(ref.case)}</a>'


def render_page(review: Review, base: Path) -> str:
    columns = comparisons(review)
    rows = []
    for behaviour in review.behaviours:
        cells = []
        for _, role in columns:
            difference = difference_of(behaviour, role)
            if difference is None:
                cells.append("<td>-</td>")
                continue
            cases = "<br>".join(
                f"{_link(r, base)}: {_e(r.check)}: expected {_e(r.expected)}, observed "
                f"{_e(r.observed)}" for r in difference.cases)
            cells.append(f'<td class="{_e(difference.kind)}"><details><summary>'
                         f"{_e(difference.kind)} ({len(difference.cases)})</summary>"
                         f"{cases}</details></td>")
        rows.append(f'<tr><td title="{_e(behaviour.description)}">{_e(behaviour.title)}'
                    f"<br><small>{_e(behaviour.id)}</small></td>{''.join(cells)}</tr>")
    heads = "".join(f"<th>{_e(h)}</th>" for h, _ in columns)
    kernels = "".join(
        f"<li>{_e(v.role)}: {_e(v.label)}, Linux {_e(v.version)}; predicted by "
        f"{_e(v.prediction)}; Image sha256 {_e(v.image_sha256[:16])}; "
        f'<a href="{_e(os.path.relpath(v.run_dir, base) if v.run_dir else "")}/">runs</a>'
        f"</li>" for v in review.variants)
    findings = "".join(f"<li>{_e(f.role)} {_e(f.case)}: <code>{_e(f.message)}</code></li>"
                       for f in (*review.health, *review.unjudged)) or "<li>none</li>"
    warnings = "".join(f"<li><code>{_e(w)}</code></li>" for w in review.warnings) \
        or "<li>none new</li>"
    commands = "".join(f"<li><code>{_e(' '.join(c))}</code></li>" for c in reproduce(review))
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>review of "
            f"{_e(review.series)}</title><style>{STYLE}</style></head><body>"
            f"<h1>Review of {_e(review.series)}</h1><p><strong>{_e(verdict_line(review))}"
            f"</strong></p><p>Judged against {_e(review.api)}</p><ul>{kernels}</ul>"
            f"<table><tr><th>behaviour</th>{heads}</tr>{''.join(rows)}</table>"
            f"<h2>Kernel health and cases not judged</h2><ul>{findings}</ul>"
            f"<h2>New compiler warnings</h2><ul>{warnings}</ul>"
            f"<h2>To reproduce</h2><ul>{commands}</ul>"
            f"<p><small>pmu-harness {_e(review.harness)}, {_e(review.date)}</small></p>"
            "</body></html>\n")
