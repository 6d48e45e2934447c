"""The kernel-health check of a case: what L1's kernel logged while the case ran.

A KASAN, UBSAN, lockdep, WARN, BUG or Oops report fails the case even when every other
check passed: the kernel misbehaved. Stalls and lockups that come from running two levels
of virtualisation under TCG are reported in the check, not failed (``harness.health`` says
how the two are told apart). The piece of the console the case added is kept in its
artefacts as ``l1-kernel.log``; the whole console stays in the group's ``l1/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from harness.health import HealthReport, checks_turned_off, scan, since
from harness.results import Check, Outcome
from harness.verdict import Verdict

log = logging.getLogger(__name__)

CHECK_NAME = "L1 kernel log during the case"
EXPECTED = "no KASAN, UBSAN, lockdep, WARNING, BUG or Oops report"
CASE_LOG = "l1-kernel.log"
EXCERPT_LINES = 4  # of the first splat, in the check (and so in the case's reason)


def console_size(console: Path | None) -> int | None:
    """Where the console ends now (a case's log starts here); None: no console to read."""
    if console is None:
        return None
    try:
        return console.stat().st_size
    except OSError:
        return None


def _observed(report: HealthReport) -> str:
    if report.splats:
        first = report.splats[0]
        lines = " | ".join(first.excerpt[:EXCERPT_LINES])
        more = len(report.splats) - 1
        return (f"{first.kind}: {lines} (line {first.first_line} of {CASE_LOG})"
                + (f"; +{more} more report(s)" if more else ""))
    if report.stalls:
        kinds = ", ".join(sorted({s.kind for s in report.stalls}))
        return (f"none; {len(report.stalls)} stall(s) from emulation load reported ({kinds}): "
                f"{report.stalls[0].title}")
    return "none"


@dataclass(frozen=True)
class CaseHealth:
    """The check, and why L1's debug checks are off after the case (empty: still on)."""

    check: Check
    checks_off: str = ""


def kernel_health(console: Path | None, start: int | None, case_dir: Path
                  ) -> CaseHealth | None:
    """The check, or None when there is no console to read (a fake L1 in a unit test)."""
    if console is None or start is None:
        return None
    try:
        text = since(console.read_bytes(), start)
    except OSError as exc:
        log.warning("could not read L1's console %s: %s", console, exc)
        return None
    try:
        (case_dir / CASE_LOG).write_text(text)
    except OSError as exc:
        log.warning("could not keep the case's kernel log: %s", exc)
    report = scan(text)
    outcome = Outcome.PASS if report.ok else Outcome.FAIL
    return CaseHealth(Check(CHECK_NAME, EXPECTED, _observed(report), outcome,
                            f"harness: L1's console ({case_dir / CASE_LOG})"),
                      checks_turned_off(report, text))


def with_health(verdict: Verdict, health: Check | None) -> Verdict:
    """The verdict with the kernel-health check; a splat fails a case that passed."""
    if health is None:
        return verdict
    # A splat goes first: the case's reason is its first failed check, and a kernel that
    # misbehaved explains whatever else went wrong.
    checks = (health, *verdict.checks) if health.outcome is Outcome.FAIL else \
        (*verdict.checks, health)
    outcome = verdict.outcome
    if health.outcome is Outcome.FAIL and outcome in (Outcome.PASS, Outcome.INCONCLUSIVE):
        outcome = Outcome.FAIL
    return replace(verdict, outcome=outcome, checks=checks)
