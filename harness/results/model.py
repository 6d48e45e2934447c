"""What one case gave: its outcome, checks and reason, and why it erred when it did.

One type, ``CaseResult``, from the case runner to ``results.json`` and back (``codec``): a
result read from a file of an earlier run (or a shard) is the same value the run held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK


class Outcome(Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    SKIP = "skip"


# What a person has to look at: it gets a reproducer bundle, a pointer at the end of a run
# and a place in the HTML report's details.
NEEDS_A_LOOK = frozenset({Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE})


class ErrorClass(Enum):
    """Whose problem a result that needs a look is (as LAVA classes its job errors): the
    kernel's (a failed check), or the machinery's, the user's, the harness's own, a
    deadline's or a person's who stopped it. Only a test failure says the kernel is wrong."""

    TEST_FAILURE = "test-failure"      # a check failed: the kernel disagreed
    INFRASTRUCTURE = "infrastructure"  # QEMU, SSH, images, a disk; or nothing was proven
    CONFIGURATION = "configuration"    # the user's input, found only once running
    HARNESS_BUG = "harness-bug"        # an exception the harness did not expect
    TIMEOUT = "timeout"                # a worker or test passed its deadline
    CANCELED = "canceled"              # stopped from outside (Ctrl-C, avocado)


def default_error_class(outcome: Outcome) -> ErrorClass | None:
    """The class of a result nobody classified more precisely."""
    if outcome is Outcome.FAIL:
        return ErrorClass.TEST_FAILURE
    if outcome in (Outcome.ERROR, Outcome.INCONCLUSIVE):
        return ErrorClass.INFRASTRUCTURE
    return None


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
        }


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """``pmu-harness run``'s rule: 1 if a check failed, else 125 if anything was an error or
    inconclusive (bisect must skip), else 0 (skips allowed)."""
    seen = set(outcomes)
    if Outcome.FAIL in seen:
        return EXIT_CHECK_FAILED
    if seen & {Outcome.ERROR, Outcome.INCONCLUSIVE}:
        return EXIT_INFRA
    return EXIT_OK


def exit_code_without_reports(code: int) -> int:
    """The exit code once a report could not be written: an infrastructure error (125),
    but never in place of a failed check (1), the verdict CI and bisect act on."""
    return code if code == EXIT_CHECK_FAILED else EXIT_INFRA


def summary_line(results: Iterable[CaseResult]) -> str:
    """``verdict: N pass, N fail, N error, N inconclusive, N skip``."""
    counts = Counter(r.outcome for r in results)
    order = (Outcome.PASS, Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.SKIP)
    return "verdict: " + ", ".join(f"{counts.get(o, 0)} {o.value}" for o in order)


def failure_pointers(results: Iterable[CaseResult]) -> list[str]:
    """Where to look, for every case that needs a look."""
    return [f"{r.name}: {r.outcome.value}"
            + (f"; artefacts in {r.artefacts}" if r.artefacts else "")
            for r in results if r.needs_a_look]
