"""What one case gave: its outcome, checks and reason, and why it erred when it did.

One type, ``CaseResult``, from the case runner to ``results.json`` and back (``codec``): a
result read from a file of an earlier run (or a shard) is the same value the run held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_NOTHING_JUDGED, EXIT_OK
from harness.results.classes import (
    ErrorClass,
    NotRun,
    Outcome,
    class_problem,
    worst_exit_code,
)

# What a person has to look at: it gets a reproducer bundle, a pointer at the end of a run
# and a place in the HTML report's details. A case not run is counted, not pointed at: it
# has no evidence, and ``run --resume`` runs it.
NEEDS_A_LOOK = frozenset({Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE})


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    observed: str
    outcome: Outcome
    source: str  # "scenario" (written) or "oracle" (derived, with the rule applied)

    def message(self) -> str:
        return (f"{self.name}: expected {self.expected}, observed {self.observed} "
                f"[{self.outcome.value}; expectation from {self.source}]")

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "expected": self.expected, "observed": self.observed,
                "result": self.outcome.value, "source": self.source}


@dataclass(frozen=True)
class FinalApiVerdict:
    """A case's observation judged against the documented API (the final revision)."""

    revision: str
    outcome: Outcome
    reason: str
    differs: tuple[str, ...] = ()  # the checks the final API's prediction fails

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "result": self.outcome.value, "reason": self.reason,
                "differs": list(self.differs)}


@dataclass(frozen=True)
class CaseResult:
    """One case's result. ``name`` is ``scenario[machine,kernel,mode]``, unique in a matrix;
    ``outcome`` is the JSON key ``result``."""

    name: str
    scenario: str
    machine: str
    kernel: str
    mode: str
    outcome: Outcome
    reason: str
    kernel_version: str = ""
    seconds: float = 0.0
    artefacts: str | None = None
    checks: tuple[Check, ...] = ()
    tags: tuple[str, ...] = ()
    bundle: str | None = None  # the reproducer of a case that did not pass
    kernel_revision: str | None = None  # of the filter series (source-built kernels)
    # On a kernel built with an older revision of the series: the same observation judged
    # against the final API's prediction (a reviewer's "what does this revision get wrong").
    final_api: FinalApiVerdict | None = None
    error_class: ErrorClass | None = None
    # Why L1's debug checks were off once this case had run (a KASAN or lockdep report, an
    # Oops: harness.health.BLINDING): the group's next case ran in a fresh L1. Empty: the
    # next case may share this one.
    l1_checks_off: str = ""

    def __post_init__(self) -> None:
        # The invariant of the one result model: a pass or skip has no class, anything
        # else exactly one that fits its outcome (a FAIL is never "infrastructure").
        problem = class_problem(self.outcome, self.error_class)
        if problem is not None:
            raise ValueError(f"{self.name}: {problem}")

    @property
    def judged(self) -> bool:
        """A verdict on the kernel: passed or failed."""
        return self.outcome in (Outcome.PASS, Outcome.FAIL)

    @property
    def needs_a_look(self) -> bool:
        return self.outcome in NEEDS_A_LOOK

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "scenario": self.scenario, "machine": self.machine,
            "kernel": self.kernel, "mode": self.mode, "result": self.outcome.value,
            "reason": self.reason, "kernel_version": self.kernel_version,
            "seconds": round(self.seconds, 3), "artefacts": self.artefacts,
            "checks": [c.to_json() for c in self.checks],
            "tags": list(self.tags), "bundle": self.bundle,
            **({"kernel_revision": self.kernel_revision} if self.kernel_revision else {}),
            **({"final_api": self.final_api.to_json()} if self.final_api else {}),
            **({"error_class": self.error_class.value} if self.error_class else {}),
            **({"l1_checks_off": self.l1_checks_off} if self.l1_checks_off else {}),
        }


def exit_code(results: Iterable[CaseResult]) -> int:
    """``pmu-harness run``'s rule, from the classes (``classes.CLASSES``): 1 if a check
    failed, else 2 if a scenario was wrong, else 125 if anything else kept a case from a
    verdict (bisect must skip); else 0 when at least one case was judged, and
    ``EXIT_NOTHING_JUDGED`` when none was (every case skipped: green must mean something
    was judged)."""
    results = list(results)
    code = worst_exit_code({r.error_class for r in results if r.error_class is not None})
    if code == EXIT_OK and not any(r.judged for r in results):
        return EXIT_NOTHING_JUDGED
    return code


def not_run(result: CaseResult, why: NotRun) -> CaseResult:
    """``result`` (a planned case's identity) as not run, and why."""
    return replace(result, outcome=Outcome.NOT_RUN, reason=f"not run: {why.why}",
                   error_class=why.error_class, checks=(), bundle=None)


def exit_code_without_reports(code: int) -> int:
    """The exit code once a report could not be written: an infrastructure error (125),
    but never in place of a failed check (1), the verdict CI and bisect act on."""
    return code if code == EXIT_CHECK_FAILED else EXIT_INFRA


def summary_line(results: Iterable[CaseResult]) -> str:
    """``verdict: N pass, N fail, N error, N inconclusive, N skip`` (and ``, N not run``
    when a case was not run)."""
    counts = Counter(r.outcome for r in results)
    order = (Outcome.PASS, Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.SKIP)
    line = "verdict: " + ", ".join(f"{counts.get(o, 0)} {o.value}" for o in order)
    if counts.get(Outcome.NOT_RUN):
        line += f", {counts[Outcome.NOT_RUN]} not run"
    return line


def failure_pointers(results: Iterable[CaseResult]) -> list[str]:
    """Where to look, for every case that needs a look."""
    return [f"{r.name}: {r.outcome.value}"
            + (f"; artefacts in {r.artefacts}" if r.artefacts else "")
            for r in results if r.needs_a_look]
