"""Human readable results: the verdict table and the summary line (results.json: results.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from harness.runner import CaseResult
from harness.verdict import Outcome

COLUMNS = ("scenario", "machine", "kernel", "mode", "result", "reason")
REASON_WIDTH = 100


def _row(result: CaseResult) -> tuple[str, ...]:
    case = result.case
    reason = " ".join(result.reason.split())
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    return (case.scenario.id, case.machine, case.kernel, case.mode,
            result.outcome.value.upper(), reason)


def verdict_table(results: Sequence[CaseResult], *, include_skips: bool = False) -> str:
    rows = [_row(r) for r in results if include_skips or r.outcome is not Outcome.SKIP]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


class HasOutcome(Protocol):
    """A case result of a run (``CaseResult``) or read back from JSON (``ResultRecord``)."""

    @property
    def outcome(self) -> Outcome: ...


def summary_line(results: Iterable[HasOutcome]) -> str:
    """``verdict: N pass, N fail, N error, N inconclusive, N skip``."""
    counts = Counter(r.outcome for r in results)
    order = (Outcome.PASS, Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.SKIP)
    parts = [f"{counts.get(o, 0)} {o.value}" for o in order]
    return "verdict: " + ", ".join(parts)

