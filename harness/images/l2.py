"""The L2 initramfs: busybox, perf and its shared-library closure, the workload and an init.

Library dependencies come from reading ELF headers (DT_NEEDED, PT_INTERP, DT_RUNPATH) in
the extracted arm64 tree; nothing arm64 runs on the host.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from harness.errors import InfraError
from harness.images.closure import ClosureError, library_closure
from harness.images.cpio import CpioWriter
from harness.images.elf import ElfError, is_elf
from harness.images.recipe import L2_DIR
from harness.images.tree import resolve

APPLETS = ("sh", "mount", "cat", "echo", "basename", "poweroff", "sleep", "ls", "sed", "grep",
           "uname", "dmesg", "seq", "true", "taskset", "insmod")


def real_perf(root: Path) -> str:
    """Guest path of the perf binary: Debian's /usr/bin/perf may be a wrapper script that
    picks ``perf_<version>``; then take the newest of those."""
    wrapper = resolve(root, "/usr/bin/perf")
    if wrapper is not None and is_elf(wrapper.read_bytes()[:4]):
        return "/usr/bin/perf"
    candidates = sorted((root / "usr/bin").glob("perf_*"))
    if not candidates:
        raise InfraError("no perf binary in the L1 userspace (linux-perf not extracted?)")
    return f"/usr/bin/{candidates[-1].name}"


def build_l2_initrd(root: Path, out: Path) -> list[str]:
    """Write the L2 cpio to ``out``; return the guest paths it contains.

    Uncompressed: L2's kernel unpacks its initramfs at every boot, once per linux run, and
    gunzip of these 30 MB (perf's libraries, mostly) under nested TCG took ~0.35 s of a
    ~3 s run (small kernel, 1.16 s to /init against 0.79 s uncompressed). L1 holds the 19
    MB more in RAM; QEMU in L1 copies it into L2 faster than L2 inflates it."""
    sources = {"/bin/busybox": "/usr/bin/busybox", "/bin/perf": real_perf(root)}
    try:
        closure = library_closure(root, list(sources.values()))
    except (ClosureError, ElfError) as exc:
        raise InfraError(f"L2 initramfs: cannot resolve the library closure: {exc}") from exc
    with out.open("wb") as raw:
        writer = CpioWriter(raw)
        for directory in ("bin", "dev", "proc", "sys", "tmp", "lib", "usr", "usr/lib",
                          "usr/bin"):
            writer.add_dir(directory)
        writer.add_node("dev/console", "c", 5, 1)
        names = _add_closure(writer, closure, sources)
        for applet in APPLETS:
            writer.add_symlink(f"bin/{applet}", "busybox")
        writer.add_file("init", L2_DIR / "init", mode=0o755)
        writer.add_file("bin/pmu-workload", L2_DIR / "pmu-workload", mode=0o755)
        writer.finish()
    return sorted(names)


def _add_closure(writer: CpioWriter, closure: dict[str, Path], sources: dict[str, str]) -> set[str]:
    """Libraries at their guest paths (as plain files); binaries under /bin."""
    names: set[str] = set()
    made: set[str] = {"bin", "dev", "proc", "sys", "tmp", "lib", "usr", "usr/lib", "usr/bin"}
    renamed = {guest: target for target, guest in sources.items()}
    for guest, host in sorted(closure.items()):
        target = renamed.get(guest, guest).lstrip("/")
        parent = str(PurePosixPath(target).parent)
        for ancestor in reversed([parent, *map(str, PurePosixPath(parent).parents)]):
            if ancestor not in made and ancestor != ".":
                writer.add_dir(ancestor)
                made.add(ancestor)
        writer.add_file(target, host, mode=0o755)
        names.add(target)
    return names

