"""Shared-library closures of arm64 ELF files in a guest tree, read from their headers.

Used to pack L2's initramfs (perf and what it loads) and to drop libraries that nothing in
L1's userspace loads. Libraries that are only ``dlopen``ed never appear in DT_NEEDED: list
them in ``guest-images/l1/keep-libraries.txt``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from harness.images.elf import ElfError, is_elf, read_elf
from harness.images.tree import resolve

LIBRARY_DIRS = ("/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib")

class ClosureError(LookupError):
    """A DT_NEEDED library is not in the tree."""


def _find_library(root: Path, name: str, runpath: tuple[str, ...], origin: str) -> str:
    for directory in (*(p.replace("$ORIGIN", origin) for p in runpath), *LIBRARY_DIRS):
        guest = f"{directory}/{name}"
        if resolve(root, guest) is not None:
            return guest
    raise ClosureError(f"{name} (searched {', '.join(LIBRARY_DIRS)})")


def library_closure(root: Path, binaries: list[str]) -> dict[str, Path]:
    """Guest path -> host file for every binary and everything it loads, transitively."""
    found: dict[str, Path] = {}
    pending = list(binaries)
    while pending:
        guest = pending.pop()
        if guest in found:
            continue
        host = resolve(root, guest)
        if host is None:
            raise ClosureError(guest)
        found[guest] = host
        data = host.read_bytes()
        if not is_elf(data):
            continue
        info = read_elf(data)
        if info.interpreter:
            pending.append(info.interpreter)
        origin = str(PurePosixPath(guest).parent)
        pending.extend(_find_library(root, n, info.runpath, origin) for n in info.needed)
    return found


LIBRARY_TREE = "usr/lib/aarch64-linux-gnu"
EXECUTABLE_DIRS = ("usr/bin", "usr/sbin", "usr/lib/openssh", "usr/libexec", "usr/lib/qemu")


def _is_elf_file(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as handle:
        return is_elf(handle.read(4))


def executables(root: Path) -> list[str]:
    """Guest paths of every ELF file in the executable directories of ``root``."""
    found: list[str] = []
    for directory in EXECUTABLE_DIRS:
        base = root / directory
        if base.is_dir():
            found.extend("/" + p.relative_to(root).as_posix()
                         for p in sorted(base.rglob("*")) if _is_elf_file(p))
    return found


def prune_libraries(root: Path, keep: tuple[str, ...]) -> int:
    """Delete shared libraries under ``usr/lib/aarch64-linux-gnu`` that no executable loads
    (nor ``keep`` names); returns the bytes freed."""
    roots = executables(root) + [f"/{LIBRARY_TREE}/{name}" for name in keep
                                 if resolve(root, f"/{LIBRARY_TREE}/{name}") is not None]
    try:
        needed = {p.resolve() for p in library_closure(root, roots).values()}
    except (ClosureError, ElfError):
        return 0  # an unresolvable closure: keep everything rather than guess
    freed = 0
    libdir = root / LIBRARY_TREE
    for path in sorted(libdir.rglob("*.so*")):
        if _is_elf_file(path) and path.resolve() not in needed:
            freed += path.stat().st_size
            path.unlink()
    for link in sorted(libdir.rglob("*.so*")):
        if link.is_symlink() and not link.exists():
            link.unlink()
    return freed
