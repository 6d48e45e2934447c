"""What a mutants run gave: per planted bug, killed (a case failed), survived (every case
passed: a hole in the scenarios) or errored (only errors: it says nothing either way)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.results.classes import ErrorClass
from harness.results.model import CaseResult


class MutantStatus(Enum):
    KILLED = "killed"
    SURVIVED = "survived"
    ERRORED = "errored"


@dataclass(frozen=True)
class MutantResult:
    name: str
    breaks: str          # what the planted bug breaks, from the mutants catalog
    status: MutantStatus
    killed_by: tuple[str, ...]  # the failed cases, scenario[machine,kernel,mode]
    reasons: tuple[str, ...]    # why each of them failed, in the same order
    build_seconds: float
    suite_seconds: float
    cases: int
    run_dir: str
    suite: str = ""   # the suite it ran in, on
    kernel: str = ""  # this kernel (the suite's, or --kernel's)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "suite": self.suite, "kernel": self.kernel,
                "breaks": self.breaks, "status": self.status.value,
                "killed_by": list(self.killed_by), "reasons": list(self.reasons),
                "build_seconds": round(self.build_seconds, 1),
                "suite_seconds": round(self.suite_seconds, 1), "cases": self.cases,
                "run_dir": self.run_dir}


def judge_mutant(results: Sequence[CaseResult]) -> tuple[MutantStatus, tuple[CaseResult, ...]]:
    """Killed when a case is a kernel failure (a check, or the kernel-health check);
    survived when every case was judged and none failed; errored when nothing failed but
    a case has another class (a crashed L1 is not a kill the scenarios can claim, nor a
    survival), or when no case was judged at all."""
    failed = tuple(r for r in results if r.error_class is ErrorClass.KERNEL_FAILURE)
    if failed:
        return MutantStatus.KILLED, failed
    if any(r.error_class is not None for r in results) or not any(r.judged for r in results):
        return MutantStatus.ERRORED, ()
    return MutantStatus.SURVIVED, ()


def mutation_score(results: Sequence[MutantResult]) -> tuple[int, int]:
    """(killed, mutants run)."""
    return sum(r.status is MutantStatus.KILLED for r in results), len(results)
