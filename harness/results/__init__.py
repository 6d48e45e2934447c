"""The one result model: what a case gave, from the case runner to ``results.json`` and back.

``model`` holds the types (outcome, checks, the error class, ``CaseResult``), ``codec``
writes and reads them as JSON. Everything above this package (execution, reports, front
ends) speaks ``CaseResult``; nothing here imports them.
"""

from harness.results.classes import (
    CLASSES,
    ClassRule,
    ErrorClass,
    NotRun,
    Outcome,
    class_of_exception,
    class_of_outcome,
)
from harness.results.codec import (
    MAX_RESULTS_BYTES,
    load_results,
    result_from_json,
    write_results_json,
)
from harness.results.model import (
    NEEDS_A_LOOK,
    CaseResult,
    Check,
    FinalApiVerdict,
    exit_code,
    exit_code_without_reports,
    failure_pointers,
    not_run,
    summary_line,
)

__all__ = [
    "CLASSES",
    "MAX_RESULTS_BYTES",
    "NEEDS_A_LOOK",
    "CaseResult",
    "Check",
    "ClassRule",
    "ErrorClass",
    "FinalApiVerdict",
    "NotRun",
    "Outcome",
    "class_of_exception",
    "class_of_outcome",
    "exit_code",
    "exit_code_without_reports",
    "failure_pointers",
    "load_results",
    "not_run",
    "result_from_json",
    "summary_line",
    "write_results_json",
]
