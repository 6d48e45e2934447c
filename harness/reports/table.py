"""Human readable results: the verdict table, and on source-built revisions the revision
matrix and why each revision differs from the final API."""

from __future__ import annotations

from collections.abc import Sequence

from harness.results import CaseResult, Outcome

COLUMNS = ("scenario", "machine", "kernel", "mode", "result", "reason")
REASON_WIDTH = 100


FINAL_API_COLUMN = "vs final api"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text[: REASON_WIDTH - 3] + "..." if len(text) > REASON_WIDTH else text


def _final_api_cell(result: CaseResult) -> str:
    if result.final_api is None:
        return "same" if result.kernel_revision else ""
    return f"{result.final_api.outcome.value.upper()} ({result.final_api.revision})"


def _row(result: CaseResult, with_final_api: bool) -> tuple[str, ...]:
    cells = [result.scenario, result.machine, result.kernel, result.mode,
             result.outcome.value.upper()]
    if with_final_api:
        cells.append(_final_api_cell(result))
    return (*cells, _short(result.reason))


def _layout(columns: Sequence[str], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


def progress_line(result: CaseResult) -> str:
    """One finished case, as a run prints it while the others go on."""
    line = f"  {result.outcome.value.upper():<12} {result.name}  ({result.seconds:.1f} s)"
    if result.l1_checks_off:
        line += f"; the next case runs in a fresh L1: {_short(result.l1_checks_off)}"
    return line


def verdict_table(results: Sequence[CaseResult], *, include_skips: bool = False) -> str:
    """One row per case; on source-built revisions also the verdict against the final API."""
    shown = [r for r in results if include_skips or r.outcome is not Outcome.SKIP]
    with_final_api = any(r.kernel_revision for r in shown)
    columns = list(COLUMNS)
    if with_final_api:
        columns.insert(5, FINAL_API_COLUMN)
    return _layout(columns, [_row(r, with_final_api) for r in shown])


def _matrix_cell(result: CaseResult) -> str:
    own = result.outcome.value.upper()
    if result.final_api is None or result.outcome is not Outcome.PASS:
        return own
    if result.final_api.outcome is Outcome.PASS:
        return own
    return f"{own}, differs from {result.final_api.revision}"


def revision_matrix(results: Sequence[CaseResult]) -> str:
    """Scenario x machine rows, one column per revision kernel: how each revision did
    against its own prediction, and where it differs from the final API (the reviewer's
    view of a series' history). Empty when no case ran on a source-built revision."""
    cases = [r for r in results if r.kernel_revision and r.outcome is not Outcome.SKIP]
    if not cases:
        return ""
    kernels = sorted({r.kernel for r in cases},
                     key=lambda k: next(r.kernel_revision or "" for r in cases
                                        if r.kernel == k))
    cells: dict[tuple[str, str, str], dict[str, str]] = {}
    for result in cases:
        row = (result.scenario, result.machine, result.mode)
        cells.setdefault(row, {})[result.kernel] = _matrix_cell(result)
    rows = [(*row, *(cells[row].get(k, "-") for k in kernels)) for row in sorted(cells)]
    return _layout(["scenario", "machine", "mode", *kernels], rows)


def final_api_differences(results: Sequence[CaseResult]) -> list[str]:
    """Why each revision differs from the final API, one line per case."""
    return [f"{r.name}: differs from {r.final_api.revision} in "
            + ("; ".join(r.final_api.differs) or _short(r.final_api.reason))
            for r in results if r.final_api is not None and r.final_api.outcome is not
            Outcome.PASS and r.outcome is Outcome.PASS]
