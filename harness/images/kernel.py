"""The kernel of an image set, whatever kind of profile gives it (``harness.images.kinds``).

A kind plans the kernel (resolved to exact inputs, hashed into the image set's key) and
unpacks it: a plain arm64 ``Image`` (what QEMU's ``-kernel`` and L1's QEMU take), the
``uname -r`` release, and the modules L1's init needs in load order.
"""

from __future__ import annotations

import gzip
import lzma
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import InfraError
from harness.images import modules
from harness.images.profiles import NO_OVERRIDES, KernelProfile, SourceOverrides
from harness.images.recipe import wanted_modules
from harness.kbuild.release import image_release
from harness.store.apt import DebRef, PrivateApt

if TYPE_CHECKING:
    from harness.kbuild.build import BuildInputs

ARM64_MAGIC = b"ARM\x64"
ARM64_MAGIC_OFFSET = 0x38


@dataclass(frozen=True)
class KernelPlan:
    """A kernel resolved to exact inputs; ``key`` feeds the image set's cache key."""

    profile: KernelProfile
    package: str
    version: str
    key: dict[str, Any]
    apt: PrivateApt | None = None
    refs: tuple[DebRef, ...] = ()
    local_image: Path | None = None
    local_modules: Path | None = None
    source: BuildInputs | None = None
    # What the oracle predicts for this kernel: a revision of the filter series
    # (kernel-rules.yaml `revisions`), or None for the version rules of `version`; and
    # one line saying what was built and why that prediction (oracle.json, results.json).
    revision: str | None = None
    prediction: str = ""


@dataclass
class KernelFiles:
    image: Path
    release: str
    modules: list[Path] = field(default_factory=list)
    modules_root: Path | None = None
    build: dict[str, Any] = field(default_factory=dict)  # how a source kernel was built


@dataclass(frozen=True)
class KernelRequest:
    """What the command line adds to a profile: a local Image (``local``), changes to a
    source build (``source``), a fresh look at the package lists, progress on stderr."""

    local_image: Path | None = None
    local_modules: Path | None = None
    refresh: bool = False
    overrides: SourceOverrides = NO_OVERRIDES
    progress: bool = False


class KernelKind(Protocol):
    """One kind of kernel profile (``kind:`` in configs/kernels): how its own fields are
    read, how a kernel of it is resolved to exact inputs, and how it is unpacked."""

    @property
    def name(self) -> str: ...
    @property
    def built_here(self) -> bool:
        """Compiled on this machine: ``run`` builds it before any L1 starts."""
    @property
    def takes_overrides(self) -> bool:
        """``--tree``/``--series`` apply to it."""
    @property
    def takes_local_image(self) -> bool:
        """``--kernel-image``/``--kernel-modules`` apply to it."""

    def parse(self, raw: dict[str, Any], path: Path, name: str, description: str
              ) -> KernelProfile: ...
    def plan(self, profile: KernelProfile, request: KernelRequest) -> KernelPlan: ...
    def unpack(self, plan: KernelPlan, work: Path, progress: bool) -> KernelFiles: ...


def plain_image(data: bytes) -> bytes:
    """A bootable arm64 ``Image`` from a plain, gzip'd or EFI-zboot (gzip/xz/zstd) kernel."""
    if data[ARM64_MAGIC_OFFSET:ARM64_MAGIC_OFFSET + 4] == ARM64_MAGIC:
        return data
    if data[:2] == b"\x1f\x8b":
        return plain_image(gzip.decompress(data))
    if data[:2] == b"MZ" and data[4:8] == b"zimg":
        offset = int.from_bytes(data[8:12], "little")
        size = int.from_bytes(data[12:16], "little")
        return plain_image(_decompress(data[offset:offset + size], data[24:32]))
    raise ValueError("not an arm64 kernel Image (no ARM\\x64 magic, not gzip, not EFI zboot)")


def _decompress(payload: bytes, kind: bytes) -> bytes:
    name = kind.rstrip(b"\0").decode(errors="replace")
    if name == "gzip":
        return gzip.decompress(payload)
    if name in ("xz", "lzma"):
        return lzma.decompress(payload)
    if name == "zstd" or name == "zstd22":
        return subprocess.run(["zstd", "-dc"], input=payload, capture_output=True, check=True,
                              timeout=120).stdout
    raise ValueError(f"EFI zboot image compressed with {name!r}, which is not supported")


def write_image(source: Path, out: Path, release: str, plan: KernelPlan) -> KernelFiles:
    try:
        data = plain_image(source.read_bytes())
        release = release or image_release(data)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        raise InfraError(f"{plan.package} {plan.version}: {source.name}: {exc}") from exc
    out.write_bytes(data)
    return KernelFiles(image=out, release=release)


def modules_dir(root: Path, release: str) -> Path | None:
    for base in ("lib/modules", "usr/lib/modules"):
        if (root / base / release).is_dir():
            return root / base / release
    return None


def release_dir(path: Path, release: str) -> Path:
    """Accept ``lib/modules/<release>`` or a directory that contains ``<release>``."""
    if (path / release).is_dir():
        return path / release
    nested = modules_dir(path, release)
    return nested or path


def resolve_modules(release_dir: Path, plan: KernelPlan) -> list[Path]:
    required, optional = wanted_modules()
    tree = modules.scan_tree(release_dir)
    try:
        # An optional module is loaded when the kernel has it, skipped when it has not.
        return modules.resolve(tree, [*required, *optional], optional)
    except modules.MissingModule as exc:
        raise InfraError(
            f"{plan.package} {plan.version}: L1 needs module {exc} (neither a module file "
            f"under {release_dir} nor listed in modules.builtin)"
        ) from exc


def with_modules(files: KernelFiles, modules_root: Path | None, plan: KernelPlan
                 ) -> KernelFiles:
    """The modules L1 needs, from a modules tree (``lib/modules/<release>`` or above)."""
    if modules_root is not None:
        files.modules_root = release_dir(modules_root, files.release)
        files.modules = resolve_modules(files.modules_root, plan)
    return files
