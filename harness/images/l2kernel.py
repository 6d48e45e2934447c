"""The small L2 guest kernel: built here once (kbuild, cached like every built kernel) and
booted inside L1's QEMU in linux mode when ``--l2-kernel small`` (the default).

It is the *guest's* kernel, never the kernel under test (that is L1's): the PMU driver and
perf inside L2 only read what L1's KVM shows the guest (PMCEID, counters). It is built from
the 6.12 tree that profile ``source-6.12`` pins, with its own fragment
(``configs/kconfig/l2-guest.config``) and one patch of ours (``kernel-patches/l2-guest``)
that makes the PMUv3 driver a module, so L2's init loads it when a case starts: the driver
reads PMCEID when it probes, and must do so after the case's filter is in place, also in an
L2 restored from a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.images.cpio import CpioWriter
from harness.images.kinds import load_profile
from harness.kbuild import kconfig
from harness.kbuild.build import BuildSpec, build_kernel, read_inputs, result_dir
from harness.kbuild.series import resolve
from harness.kbuild.tree import TreeSpec
from harness.store import budget

NAME = "l2-guest"
TREE_PROFILE = "source-6.12"  # whose pinned tree the L2 kernel is built from
PMU_MODULE = "drivers/perf/arm_pmuv3.ko"
GUEST_MODULE = "lib/modules/arm_pmuv3.ko"  # where L2's init looks for the PMU driver


@dataclass(frozen=True)
class L2Kernel:
    image: Path
    pmu_module: Path  # arm_pmuv3.ko
    release: str
    key: str


def build_spec() -> BuildSpec:
    source = load_profile(TREE_PROFILE).source
    assert source is not None  # a source profile by construction
    return BuildSpec(profile=NAME,
                     tree=TreeSpec(package=source.package, version=source.version,
                                   apt=source.apt),
                     series=(resolve(NAME),),
                     fragments=(kconfig.fragment_path(NAME),),
                     modules=(PMU_MODULE,))


def build_l2_kernel(*, progress: bool) -> L2Kernel:
    """The small L2 kernel, from the cache or built (a cold build takes minutes)."""
    inputs = read_inputs(build_spec(), progress=progress)
    budget.take(result_dir(inputs))
    built = build_kernel(inputs, progress=progress)
    return L2Kernel(built.image, built.modules[Path(PMU_MODULE).name], built.release,
                    built.key)


def write_module_cpio(module: Path, base_initrd_size: int, out: Path) -> None:
    """``module`` at ``GUEST_MODULE`` in a cpio that L1 appends to the L2 initramfs it
    holds (``base_initrd_size`` bytes): the kernel reads a cpio that follows another only
    from a 4-byte boundary, so zeros lead up to it."""
    with out.open("wb") as raw:
        raw.write(b"\0" * (-base_initrd_size % 4))
        writer = CpioWriter(raw)
        writer.add_dir("lib")
        writer.add_dir("lib/modules")
        writer.add_file(GUEST_MODULE, module, mode=0o644)
        writer.finish()
