"""The small L2 kernel for a group's linux-mode cases, as L1 is given it."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.images import ImageSet
from harness.images.l2kernel import build_l2_kernel, write_module_cpio
from harness.images.model import L2_INITRD
from harness.l2.guest import SmallKernelFiles
from harness.l2.settings import L2_KERNEL_SMALL
from harness.modes import LINUX_MODE
from harness.plan import Group, RunOptions

MODULE_CPIO = "l2-pmu-module.cpio"


def small_kernel_files(group: Group, options: RunOptions, images: ImageSet,
                       group_dir: Path) -> SmallKernelFiles | None:
    """The small L2 kernel (built, or from the cache) and its PMU driver packed to follow
    the image set's L2 initramfs; None when no case of the group boots it."""
    if options.l2.kernel != L2_KERNEL_SMALL or \
            not any(case.mode == LINUX_MODE for case in group.cases):
        return None
    kernel = build_l2_kernel(progress=sys.stderr.isatty())
    cpio = group_dir / MODULE_CPIO
    write_module_cpio(kernel.pmu_module, (images.directory / L2_INITRD).stat().st_size, cpio)
    return SmallKernelFiles(kernel.image, cpio)
