"""How linux mode runs its L2 guest: which kernel, booted per case or restored."""

from __future__ import annotations

from dataclasses import dataclass

L2_KERNEL_SMALL = "small"    # built here for the job (harness/images/l2kernel.py)
L2_KERNEL_DISTRO = "distro"  # the L1's own Debian kernel, as L2's kernel too
L2_KERNELS = (L2_KERNEL_SMALL, L2_KERNEL_DISTRO)


@dataclass(frozen=True)
class L2Settings:
    kernel: str = L2_KERNEL_SMALL
    # Restore L2 from the snapshot its L1 took once (--l2-restore) instead of booting it
    # cold for every run (--l2-boot, the default: with the small kernel a boot was as fast
    # or faster on every Debian L1 measured, bench/l2_restore_results.md).
    restore: bool = False

    @property
    def restores(self) -> bool:
        """Whether runs restore L2 from a snapshot. Only the small kernel can: Debian's
        kernels have the PMU driver built in, so it read PMCEID at boot, before the case's
        filter existed, and would show the snapshot's PMU rather than the case's."""
        return self.kernel == L2_KERNEL_SMALL and self.restore

    def conflict(self) -> str | None:
        """Why these settings cannot run, or None: a restore asked of a kernel that cannot
        be restored (``restores`` says why)."""
        if self.restore and self.kernel != L2_KERNEL_SMALL:
            return ("Debian's kernels probe the PMU driver at boot, so a restored one would "
                    "show the snapshot's PMU, not the case's")
        return None

    def describe(self) -> str:
        how = "restored from a snapshot" if self.restores else "booted for every run"
        return f"L2 kernel {self.kernel}, {how}"
