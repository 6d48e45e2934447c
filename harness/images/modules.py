"""Kernel modules: which files to load, in which order, from the package's own metadata.

Debian's kernel packages carry no ``modules.dep``; every ``.ko`` (or ``.ko.xz`` /
``.ko.zst``) says what it needs in its ``.modinfo`` section (``depends=a,b``), and
``modules.builtin`` lists what is compiled in. That is enough to compute a load order.
"""

from __future__ import annotations

import lzma
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.images.elf import ElfError, section_bytes

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst")
DECOMPRESS_TIMEOUT = 60


def canonical(name: str) -> str:
    """Module names compare with ``-`` and ``_`` equal (the kernel does the same)."""
    return name.replace("-", "_")


def module_name(path: Path | str) -> str:
    name = Path(path).name
    for suffix in MODULE_SUFFIXES:
        if name.endswith(suffix):
            return canonical(name[: -len(suffix)])
    raise ValueError(f"not a kernel module file name: {name}")


def parse_modinfo(raw: bytes) -> dict[str, list[str]]:
    """``key=value`` strings separated by NULs; a key may repeat (``alias``)."""
    info: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep:
            info.setdefault(key, []).append(value)
    return info


def depends_of(raw_modinfo: bytes) -> tuple[str, ...]:
    values = parse_modinfo(raw_modinfo).get("depends", [])
    return tuple(canonical(d) for value in values for d in value.split(",") if d)


def read_module(path: Path) -> bytes:
    """The uncompressed ELF bytes of a module file (``.ko``, ``.ko.xz`` or ``.ko.zst``)."""
    if path.name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if path.name.endswith(".zst"):
        try:
            return subprocess.run(
                ["zstd", "-dc", str(path)], capture_output=True, check=True,
                timeout=DECOMPRESS_TIMEOUT,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise InfraError(f"cannot decompress {path} with the host's zstd: {exc}") from exc
    return path.read_bytes()


def module_depends(path: Path) -> tuple[str, ...]:
    try:
        raw = section_bytes(read_module(path), ".modinfo")
    except ElfError as exc:
        raise InfraError(f"kernel module {path} is not a readable ELF file: {exc}") from exc
    return depends_of(raw or b"")


@dataclass(frozen=True)
class ModuleTree:
    """The modules of one kernel release: name -> file, plus what is built in."""

    files: Mapping[str, Path]
    builtin: frozenset[str]


def scan_tree(release_dir: Path) -> ModuleTree:
    """Index ``lib/modules/<release>``: every module file and ``modules.builtin``."""
    files = {
        module_name(path): path
        for path in sorted(release_dir.rglob("*.ko*"))
        if path.name.endswith(MODULE_SUFFIXES)
    }
    builtin_list = release_dir / "modules.builtin"
    builtin = frozenset(
        module_name(line.strip())
        for line in (builtin_list.read_text().splitlines() if builtin_list.exists() else [])
        if line.strip().endswith(MODULE_SUFFIXES)
    )
    return ModuleTree(files=files, builtin=builtin)


class MissingModule(LookupError):
    """A wanted module (or a dependency) is neither a file nor built in."""


def load_order(
    wanted: Iterable[str],
    depends: Mapping[str, tuple[str, ...]] | None = None,
    *,
    available: Iterable[str],
    builtin: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> list[str]:
    """Modules to load, dependencies first; built-in ones are skipped.

    ``depends`` maps a module to its ``depends=`` list (callers fill it lazily through
    :func:`resolve`); ``optional`` names may be absent without error (e.g. a module that
    later kernels build in under another name).
    """
    deps = depends or {}
    have = {canonical(n) for n in available}
    built = {canonical(n) for n in builtin}
    skip_missing = {canonical(n) for n in optional}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name in built or name in visiting:
            return
        if name not in have:
            if name in skip_missing:
                return
            raise MissingModule(name)
        visiting.add(name)
        for dep in deps.get(name, ()):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(canonical(name))
    return order


def resolve(tree: ModuleTree, wanted: Iterable[str], optional: Iterable[str] = ()) -> list[Path]:
    """Files of ``wanted`` and their dependencies, in load order, read from ``.modinfo``."""
    depends: dict[str, tuple[str, ...]] = {}
    pending = [canonical(n) for n in wanted]
    while pending:
        name = pending.pop()
        if name in depends or name not in tree.files:
            continue
        depends[name] = module_depends(tree.files[name])
        pending.extend(depends[name])
    order = load_order(
        wanted, depends, available=tree.files, builtin=tree.builtin, optional=optional
    )
    return [tree.files[name] for name in order]
