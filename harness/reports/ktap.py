"""KTAP, the kernel developers' test output format: one line per case and the selftests'
``# Totals:`` line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from harness.results import CLASSES, CaseResult, ErrorClass, Outcome


def _ktap_line(number: int, result: CaseResult) -> str:
    """``ok``/``not ok``, then KTAP's directive for the error class (``SKIP``,
    ``TIMEOUT``, ``ERROR``; none for a kernel failure) and the class and reason as the
    diagnostic."""
    name = result.name
    reason = " ".join(result.reason.split()).replace("#", "")
    if result.outcome is Outcome.PASS:
        return f"ok {number} {name}"
    if result.outcome is Outcome.SKIP:
        return f"ok {number} {name} # SKIP {reason}"
    error_class = result.error_class or ErrorClass.HARNESS_BUG  # never: the invariant
    directive = CLASSES[error_class].ktap
    head = f"{directive} " if directive else ""
    return f"not ok {number} {name} # {head}{error_class.value}: {reason}"


def ktap(results: Sequence[CaseResult]) -> str:
    """KTAP v1 with one line per case and the selftests' ``# Totals:`` line."""
    lines = ["KTAP version 1", f"1..{len(results)}"]
    lines += [_ktap_line(i, r) for i, r in enumerate(results, start=1)]
    counts = Counter(r.outcome for r in results)
    errors = sum(1 for r in results
                 if r.error_class is not None and r.error_class is not ErrorClass.KERNEL_FAILURE)
    lines.append(f"# Totals: pass:{counts[Outcome.PASS]} fail:{counts[Outcome.FAIL]} "
                 f"xfail:0 xpass:0 skip:{counts[Outcome.SKIP]} error:{errors}")
    return "\n".join(lines) + "\n"
