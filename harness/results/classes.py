"""Whose problem a result that is not a pass is: one class per result, decided here once.

Everything downstream reads ``CLASSES``: the exit code, JUnit's element and ``type``, the
KTAP directive, the HTML cell, avocado's result and ``fail_class``, a mutant's "errored".
A class is decided from what happened, never by a caller's choice: a verdict's outcome
(``class_of_outcome``), or the exception that stopped a case (``class_of_exception``), or
why a case was never run (``NotRun``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from harness.errors import (
    EXIT_CHECK_FAILED,
    EXIT_INFRA,
    EXIT_USAGE,
    InfraError,
    UsageError,
)


class Outcome(Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    SKIP = "skip"
    # Planned but never judged: the run was interrupted, its group passed its deadline or
    # its worker died before the case ran. ``run --resume`` runs exactly these.
    NOT_RUN = "not-run"


class ErrorClass(Enum):
    """Whose problem a result is (as LAVA classes its job errors). Only a kernel failure
    says the kernel is wrong."""

    KERNEL_FAILURE = "kernel-failure"  # a check failed: the kernel disagreed
    SCENARIO_ERROR = "scenario-error"  # the user's input, found only once running
    INFRASTRUCTURE = "infrastructure"  # QEMU, SSH, images, a disk, a lost worker
    INCONCLUSIVE = "inconclusive"      # it ran, but nothing was proven either way
    HARNESS_BUG = "harness-bug"        # an exception the harness did not expect
    TIMEOUT = "timeout"                # a group passed its deadline
    CANCELED = "canceled"              # stopped from outside (Ctrl-C, SIGTERM, avocado)


@dataclass(frozen=True)
class ClassRule:
    """What one class means to every consumer."""

    exit_code: int
    junit: str        # the JUnit element: "failure" (the code under test) or "error"
    ktap: str         # the KTAP directive after "#" ("" for none: a plain failure)
    avocado: str      # avocado's test status
    meaning: str      # one line for the HTML legend and the docs


CLASSES: dict[ErrorClass, ClassRule] = {
    ErrorClass.KERNEL_FAILURE: ClassRule(
        EXIT_CHECK_FAILED, "failure", "", "fail",
        "a check failed: the kernel disagreed with the expectation"),
    ErrorClass.SCENARIO_ERROR: ClassRule(
        EXIT_USAGE, "error", "ERROR", "error",
        "the scenario or the options are wrong, found only once running"),
    ErrorClass.INFRASTRUCTURE: ClassRule(
        EXIT_INFRA, "error", "ERROR", "error",
        "QEMU, SSH, images, a disk or a worker failed: says nothing about the kernel"),
    ErrorClass.INCONCLUSIVE: ClassRule(
        EXIT_INFRA, "error", "ERROR", "error",
        "nothing proven, e.g. the unfiltered control did not count either"),
    ErrorClass.HARNESS_BUG: ClassRule(
        EXIT_INFRA, "error", "ERROR", "error",
        "an exception the harness did not expect: a bug in the harness"),
    ErrorClass.TIMEOUT: ClassRule(
        EXIT_INFRA, "error", "TIMEOUT", "interrupted",
        "its group passed its deadline and was stopped"),
    ErrorClass.CANCELED: ClassRule(
        EXIT_INFRA, "error", "ERROR", "cancel",
        "stopped from outside (Ctrl-C, SIGTERM, a cancelled CI job)"),
}

# Which classes each outcome may carry; a pass and a skip carry none.
ALLOWED: dict[Outcome, frozenset[ErrorClass]] = {
    Outcome.PASS: frozenset(),
    Outcome.SKIP: frozenset(),
    Outcome.FAIL: frozenset({ErrorClass.KERNEL_FAILURE}),
    Outcome.INCONCLUSIVE: frozenset({ErrorClass.INCONCLUSIVE}),
    Outcome.ERROR: frozenset({ErrorClass.SCENARIO_ERROR, ErrorClass.INFRASTRUCTURE,
                              ErrorClass.HARNESS_BUG, ErrorClass.TIMEOUT}),
    Outcome.NOT_RUN: frozenset({ErrorClass.CANCELED, ErrorClass.TIMEOUT,
                                ErrorClass.INFRASTRUCTURE}),
}


class NotRun(Enum):
    """Why a planned case has no verdict, and the class that gives it."""

    INTERRUPTED = ("interrupted", ErrorClass.CANCELED)
    DEADLINE = ("its group passed its deadline", ErrorClass.TIMEOUT)
    WORKER_LOST = ("its worker was lost", ErrorClass.INFRASTRUCTURE)
    PARENT_KILLED = ("the run ended before it was judged", ErrorClass.CANCELED)

    @property
    def why(self) -> str:
        return str(self.value[0])

    @property
    def error_class(self) -> ErrorClass:
        error_class: ErrorClass = self.value[1]
        return error_class


def class_problem(outcome: Outcome, error_class: ErrorClass | None) -> str | None:
    """What is wrong with this pair, or None: the invariant every result keeps."""
    allowed = ALLOWED[outcome]
    if error_class is None:
        if not allowed:
            return None
        return (f"a result of {outcome.value} needs an error class ("
                f"{', '.join(sorted(c.value for c in allowed))})")
    if error_class in allowed:
        return None
    if not allowed:
        return f"a result of {outcome.value} has no error class, not {error_class.value!r}"
    return (f"a result of {outcome.value} cannot be {error_class.value!r} (only "
            f"{', '.join(sorted(c.value for c in allowed))})")


def class_of_outcome(outcome: Outcome) -> ErrorClass | None:
    """The class of a verdict: a failed check is the kernel's, nothing proven is
    inconclusive, a check the machinery could not make (the control run failed, a counter
    was not read back) is the infrastructure's, a pass or skip has none. An error raised
    has the class of its exception instead (``class_of_exception``)."""
    return {Outcome.FAIL: ErrorClass.KERNEL_FAILURE,
            Outcome.INCONCLUSIVE: ErrorClass.INCONCLUSIVE,
            Outcome.ERROR: ErrorClass.INFRASTRUCTURE,
            Outcome.NOT_RUN: ErrorClass.CANCELED}.get(outcome)


def class_of_exception(exc: BaseException) -> ErrorClass:
    """The class of an error from what was raised: the user's input, the machinery (a
    full disk included), a stop from outside, or the harness's own bug."""
    if isinstance(exc, UsageError):
        return ErrorClass.SCENARIO_ERROR
    if isinstance(exc, InfraError | OSError):
        return ErrorClass.INFRASTRUCTURE
    if isinstance(exc, KeyboardInterrupt):
        return ErrorClass.CANCELED
    return ErrorClass.HARNESS_BUG


def worst_exit_code(classes: set[ErrorClass]) -> int:
    """The exit code of a set of classes: a kernel failure (1) before a scenario error (2)
    before everything that says nothing about the kernel (125); 0 for none."""
    codes = {CLASSES[c].exit_code for c in classes}
    for code in (EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INFRA):
        if code in codes:
            return code
    return 0
