"""L1's QEMU as L2's VMM in linux mode: its command lines, for a cold boot, for the boot
that a snapshot is taken of, and for a restore from that snapshot.

No QEMU release has a PMU filter option, so ``libpmufilter.so`` (guest-images/preload) is
preloaded into it: on the first PMU INIT it issues the filter file's calls on that vCPU.
QEMU's virt machine issues INIT for every vCPU while it builds the machine, before an
incoming migration is read and before any vCPU runs: so a restored L2 gets the case's
filter exactly as a booted one does.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from harness.l2.remote import PRELOAD_LIBRARY

# quiet: every console byte of L2 traps through L1's KVM into L1's QEMU, itself under
# TCG; the full boot log took ~20 s of each L2 boot. Warnings and panics still print.
BASE_APPEND = "console=ttyAMA0 quiet panic=-1"
# What a snapshot is taken of: an L2 whose init waits for its settings on the console.
# init_on_free: pages the guest freed (the unpacked initramfs archive, boot-time buffers)
# are zero, and migration sends a zero page as a flag, not its 4 KiB: a smaller snapshot
# to write once and to read in every run.
WAIT_APPEND = f"{BASE_APPEND} init_on_free=1 pmu_harness.wait=1"


@dataclass(frozen=True)
class GuestSettings:
    """What L2's init runs (guest-images/l2/init): perf events, loops, CPUs to measure on."""

    events: tuple[str, ...]
    loops: int
    cpus: tuple[int, ...]

    def words(self) -> list[str]:
        return [f"events={','.join(self.events)}", f"loops={self.loops}",
                f"cpus={','.join(str(c) for c in self.cpus)}"]

    def line(self) -> str:
        """As the one line a waiting L2 reads on its console."""
        return " ".join(self.words())

    def append(self) -> str:
        """As kernel command-line arguments, for a cold boot."""
        return " ".join([BASE_APPEND, *(f"pmu_harness.{w}" for w in self.words())])


@dataclass(frozen=True)
class BootFiles:
    """L2's kernel and initramfs, as paths in L1, and the memory the guest gets."""

    kernel: str
    initrd: str
    # A restore reads (and checks for zero) every page of the guest's memory: the small
    # kernel needs 128 MiB (restores took ~1.5 s less than with 256 here); Debian's
    # kernel, with everything it loads, gets 256.
    memory_mib: int = 256


def filter_env(filter_file: str, log_file: str) -> str:
    """The preload and its settings, as a shell prefix for QEMU."""
    return (f"PMU_HARNESS_FILTER={shlex.quote(filter_file)} "
            f"PMU_HARNESS_FILTER_LOG={shlex.quote(log_file)} LD_PRELOAD={PRELOAD_LIBRARY}")


def qemu(files: BootFiles, vcpus: int, append: str, *extra: str) -> str:
    """``qemu-system-aarch64`` for L2, its serial console on stdio."""
    return " ".join([
        "qemu-system-aarch64 -accel kvm -cpu host -machine virt,gic-version=3",
        f"-m {files.memory_mib} -smp {vcpus} -nographic -nodefaults -serial stdio -nic none",
        f"-no-reboot -kernel {shlex.quote(files.kernel)} -initrd {shlex.quote(files.initrd)}",
        f"-append {shlex.quote(append)}", *extra])


def boot_command(files: BootFiles, vcpus: int, settings: GuestSettings, env: str) -> str:
    """A cold boot that runs the case and powers off."""
    return f"{env} {qemu(files, vcpus, settings.append())}"
