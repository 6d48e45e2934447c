"""Kernels built here, built before any L1 starts: a series that does not apply is exit 2
and a compile error exit 125 for the whole run, found in minutes rather than inside a worker
with a deadline; the workers then find the images in the cache."""

from __future__ import annotations

import time

from harness.images import build_image_set
from harness.plan import Plan
from harness.store import budget


def prebuild_source_kernels(plan: Plan, *, progress: bool = True) -> float:
    """Build (or find) the image set of every source kernel of the plan, with the plan's
    ``--tree``/``--series``; the seconds it took."""
    start = time.monotonic()
    # This process now uses this plan's kernels and no earlier plan's: a mutants run,
    # moving on to the next mutant, lets the last one's image set and kernel be evicted.
    budget.release_all()
    for kernel in plan.source_kernels():
        build_image_set(kernel, overrides=plan.options.overrides, progress=progress)
    return time.monotonic() - start


def source_predictions(plan: Plan) -> dict[str, str]:
    """What the oracle predicts for each source kernel of the plan, and why (the image sets
    are in the cache by now: this only finds them)."""
    return {kernel: build_image_set(kernel, overrides=plan.options.overrides,
                                    progress=False).kernel_prediction
            for kernel in plan.source_kernels()}
