"""Execution: one case in a booted L1 (``case``), one group in its L1s with a retry policy
(``group``), and the worker pool that runs groups side by side under deadlines (``pool``).

Everything here takes frozen specs from ``harness.plan`` and gives ``CaseResult``s; a worker
reports every problem as results (an error with its class), never as an exception.
"""
