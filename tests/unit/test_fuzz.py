"""A quick fuzz run in the unit suite: fixed seed, a few thousand inputs, seconds.

Every reader of outside input (scenarios, filter files, results files, bundles) may refuse
an input only with a located ``UsageError``; any other exception is a traceback a user would
see. ``bench/fuzz_inputs.py`` runs the same generator over 100,000+ inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import TARGETS, Tally, Target, run_target

# Mutants per target on top of the seeds (about two seconds each).
COUNTS = {"scenario": 1200, "filterfile": 3000, "results": 600, "bundle": 500}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_readers_raise_nothing_but_usage_errors(target: Target, tmp_path: Path) -> None:
    tally = Tally()
    run_target(target, COUNTS[target.name], tmp_path, tally)
    assert tally.inputs >= COUNTS[target.name]
    found = [f"{data[:120]!r}\n{trace}" for _, data, trace in tally.tracebacks[:3]]
    assert not tally.tracebacks, "\n".join(found)
    # Bad inputs are refused, good ones (the seeds at least) are read.
    assert 0 < tally.refused < tally.inputs
