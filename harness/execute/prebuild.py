"""Kernels built here (and linux mode's small L2 kernel), built before any L1 starts: a
series that does not apply is exit 2 and a compile error exit 125 for the whole run, found
in minutes rather than inside a worker with a deadline; the workers then find the images in
the cache."""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.images import ImageSet, build_image_set
from harness.images.l2kernel import build_l2_kernel
from harness.plan import Plan
from harness.store import budget


@dataclass(frozen=True)
class Prebuilt:
    """What was built: per plan (in the order given), each source kernel's image set."""

    seconds: float
    images: tuple[dict[str, ImageSet], ...]

    def predictions(self) -> dict[str, str]:
        """What the oracle predicts for each source kernel of the first plan, and why."""
        return {kernel: images.kernel_prediction for kernel, images in self.images[0].items()}


def prebuild_source_kernels(*plans: Plan, progress: bool = True) -> Prebuilt:
    """Build (or find) the image set of every source kernel of each plan, with that plan's
    ``--tree``/``--series``. Every plan given is held at once: the image sets of the last
    call are let go (a mutants run, moving on to the next mutant, lets the last one's image
    set and kernel be evicted), these are not (a review runs three kernels built here)."""
    start = time.monotonic()
    budget.release_all()
    images = tuple({kernel: build_image_set(kernel, overrides=plan.options.overrides,
                                            progress=progress)
                    for kernel in plan.source_kernels()} for plan in plans)
    if any(plan.needs_small_l2_kernel() for plan in plans):
        build_l2_kernel(progress=progress)
    return Prebuilt(time.monotonic() - start, images)
