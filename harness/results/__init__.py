"""The one result model: what a case gave, from the case runner to ``results.json`` and back.

``model`` holds the types (outcome, checks, the error class, ``CaseResult``), ``codec``
writes and reads them as JSON. Everything above this package (execution, reports, front
ends) speaks ``CaseResult``; nothing here imports them.
"""

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
    ErrorClass,
    FinalApiVerdict,
    Outcome,
    exit_code,
    exit_code_without_reports,
    failure_pointers,
    summary_line,
)

__all__ = [
    "MAX_RESULTS_BYTES",
    "NEEDS_A_LOOK",
    "CaseResult",
    "Check",
    "ErrorClass",
    "FinalApiVerdict",
    "Outcome",
    "exit_code",
    "exit_code_without_reports",
    "failure_pointers",
    "load_results",
    "result_from_json",
    "summary_line",
    "write_results_json",
]
