"""KTAP, the kernel developers' test output format: one line per case and the selftests'
``# Totals:`` line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from harness.results import CaseResult, Outcome


def _ktap_line(number: int, result: CaseResult) -> str:
    name = result.name
    reason = " ".join(result.reason.split()).replace("#", "")
    if result.outcome is Outcome.PASS:
        return f"ok {number} {name}"
    if result.outcome is Outcome.SKIP:
        return f"ok {number} {name} # SKIP {reason}"
    if result.outcome is Outcome.INCONCLUSIVE:
        return f"not ok {number} {name} # inconclusive: {reason}"
    return f"not ok {number} {name} # {result.outcome.value}: {reason}"


def ktap(results: Sequence[CaseResult]) -> str:
    """KTAP v1 with one line per case and the selftests' ``# Totals:`` line."""
    lines = ["KTAP version 1", f"1..{len(results)}"]
    lines += [_ktap_line(i, r) for i, r in enumerate(results, start=1)]
    counts = Counter(r.outcome for r in results)
    errors = counts[Outcome.ERROR] + counts[Outcome.INCONCLUSIVE]
    lines.append(f"# Totals: pass:{counts[Outcome.PASS]} fail:{counts[Outcome.FAIL]} "
                 f"xfail:0 xpass:0 skip:{counts[Outcome.SKIP]} error:{errors}")
    return "\n".join(lines) + "\n"
