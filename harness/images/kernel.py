"""The kernel of an image set: a Debian package resolved to an exact version, or a local Image.

What comes out is a plain arm64 ``Image`` (what QEMU's ``-kernel`` and L1's QEMU take), the
``uname -r`` release, and the modules L1's init needs in load order.
"""

from __future__ import annotations

import gzip
import lzma
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InfraError, UsageError
from harness.images import modules
from harness.images.apt import DebRef, PrivateApt
from harness.images.debs import extract_all
from harness.images.download import fetch, sha256_file
from harness.images.profiles import NO_OVERRIDES, KernelProfile, SourceOverrides
from harness.images.recipe import wanted_modules
from harness.images.release import image_release

if TYPE_CHECKING:
    from harness.kbuild.build import BuildInputs, BuildSpec

ARM64_MAGIC = b"ARM\x64"
ARM64_MAGIC_OFFSET = 0x38
LOCAL_PACKAGE = "local"


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


@dataclass
class KernelFiles:
    image: Path
    release: str
    modules: list[Path] = field(default_factory=list)
    modules_root: Path | None = None
    build: dict[str, Any] = field(default_factory=dict)  # how a source kernel was built


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


def plan_kernel(profile: KernelProfile, *, local_image: Path | None = None,
                local_modules: Path | None = None, refresh: bool = False,
                overrides: SourceOverrides = NO_OVERRIDES,
                progress: bool = False) -> KernelPlan:
    if profile.kind == "local":
        return _plan_local(profile, local_image, local_modules)
    if profile.kind == "source":
        return _plan_source(profile, overrides, progress)
    if overrides != NO_OVERRIDES:
        raise UsageError(f"--tree/--series only apply to source kernel profiles, not "
                         f"{profile.name} ({profile.kind})")
    if local_image is not None or local_modules is not None:
        raise UsageError(f"--image/--modules only apply to the 'local' profile, not {profile.name}")
    assert profile.apt is not None and profile.metapackage is not None
    apt = PrivateApt(profile.apt)
    with apt.lock():
        apt.ensure_lists(0 if refresh else None)
        try:
            package, version, parts = apt.resolve_metapackage(profile.metapackage)
            refs = tuple(apt.exact(parts, version))
        except ValueError as exc:
            raise InfraError(f"{profile.name}: resolving {profile.metapackage} failed: {exc}"
                             ) from exc
    key = {"package": package, "version": version,
           "debs": {ref.package: ref.sha256 for ref in refs}}
    return KernelPlan(profile=profile, package=package, version=version, key=key, apt=apt,
                      refs=refs)


def source_build_spec(profile: KernelProfile, overrides: SourceOverrides) -> BuildSpec:
    """A source profile's names resolved to checked paths (each unknown name is exit 2)."""
    # harness.kbuild uses the image cache's tools (apt, downloads, locks), so it is
    # imported here, not at the top: harness.images itself must import without it.
    from harness.kbuild import kconfig
    from harness.kbuild.build import BuildSpec
    from harness.kbuild.series import resolve
    from harness.kbuild.tree import TreeSpec

    source = profile.source
    assert source is not None
    tree = (TreeSpec(directory=overrides.tree) if overrides.tree is not None
            else TreeSpec(package=source.package, version=source.version, apt=source.apt))
    if overrides.series_only is not None and overrides.fragments_only is not None:
        return BuildSpec(profile=profile.name, tree=tree, series=overrides.series_only,
                         fragments=overrides.fragments_only)
    return BuildSpec(
        profile=profile.name, tree=tree,
        series=(*(resolve(name, profile.path) for name in source.series),
                *(resolve(str(path.expanduser().resolve())) for path in overrides.series)),
        fragments=tuple(kconfig.fragment_path(name) for name in source.fragments),
        options=tuple(kconfig.fragment_path(name, option=True) for name in source.options),
    )


def _plan_source(profile: KernelProfile, overrides: SourceOverrides,
                 progress: bool) -> KernelPlan:
    from harness.kbuild.build import read_inputs

    inputs = read_inputs(source_build_spec(profile, overrides), progress=progress)
    names = "+".join(s.name for s in inputs.series)
    package = inputs.tree.identity.get("package") or "tree"
    return KernelPlan(profile=profile, package=f"{package}+{names}" if names else str(package),
                      version=inputs.tree.version, key={"build_key": inputs.key()},
                      source=inputs)


def _plan_local(profile: KernelProfile, image: Path | None, modules_dir: Path | None
                ) -> KernelPlan:
    if image is None or not image.is_file():
        raise UsageError("the 'local' kernel profile needs --image PATH (an arm64 Image)")
    if modules_dir is not None and not modules_dir.is_dir():
        raise UsageError(f"--modules {modules_dir}: not a directory")
    digest = sha256_file(image)
    listing = []
    if modules_dir is not None:
        listing = sorted(
            (str(p.relative_to(modules_dir)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in modules_dir.rglob("*") if p.is_file()
        )
    key = {"image_sha256": digest, "modules": listing}
    return KernelPlan(profile=profile, package=LOCAL_PACKAGE, version=f"sha256:{digest[:12]}",
                      key=key, local_image=image, local_modules=modules_dir)


def unpack_kernel(plan: KernelPlan, work: Path, *, progress: bool) -> KernelFiles:
    """Fetch (if needed) and unpack the kernel into ``work``; resolve L1's modules."""
    if plan.source is not None:
        from harness.kbuild.build import build_kernel

        built = build_kernel(plan.source, progress=progress)
        files = _write_image(built.image, work / "Image", built.release, plan)
        files.build = {**plan.source.record(), "image_sha256": built.image_sha256,
                       "build_log": str(built.directory / "build.log")}
        return files
    if plan.refs and plan.apt is not None:
        with plan.apt.lock():
            debs = fetch(plan.apt, plan.refs, progress=progress, label=plan.package)
        root = work / "kernel-deb"
        root.mkdir()
        extract_all(debs, root)
        source, release = _find_vmlinuz(root, plan)
        modules_root = _modules_dir(root, release)
    else:
        assert plan.local_image is not None
        source, release, modules_root = plan.local_image, "", plan.local_modules
    files = _write_image(source, work / "Image", release, plan)
    if modules_root is not None:
        files.modules_root = _release_dir(modules_root, files.release)
        files.modules = _resolve_modules(files.modules_root, plan)
    return files


def _find_vmlinuz(root: Path, plan: KernelPlan) -> tuple[Path, str]:
    """``/boot/vmlinuz-<release>`` (up to 6.x) or ``/usr/lib/modules/<release>/vmlinuz`` (7.x)."""
    for path in sorted((root / "boot").glob("vmlinuz-*")):
        return path, path.name.removeprefix("vmlinuz-")
    for base in ("usr/lib/modules", "lib/modules"):
        for path in sorted((root / base).glob("*/vmlinuz")):
            return path, path.parent.name
    parts = ", ".join(r.package for r in plan.refs)
    raise InfraError(f"{plan.package} {plan.version} ({parts}) contains no /boot/vmlinuz-* "
                     "nor /usr/lib/modules/*/vmlinuz")


def _write_image(source: Path, out: Path, release: str, plan: KernelPlan) -> KernelFiles:
    try:
        data = plain_image(source.read_bytes())
        release = release or image_release(data)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        raise InfraError(f"{plan.package} {plan.version}: {source.name}: {exc}") from exc
    out.write_bytes(data)
    return KernelFiles(image=out, release=release)


def _modules_dir(root: Path, release: str) -> Path | None:
    for base in ("lib/modules", "usr/lib/modules"):
        if (root / base / release).is_dir():
            return root / base / release
    return None


def _release_dir(path: Path, release: str) -> Path:
    """Accept ``lib/modules/<release>`` or a directory that contains ``<release>``."""
    if (path / release).is_dir():
        return path / release
    nested = _modules_dir(path, release)
    return nested or path


def _resolve_modules(release_dir: Path, plan: KernelPlan) -> list[Path]:
    required, optional = wanted_modules()
    tree = modules.scan_tree(release_dir)
    try:
        return modules.resolve(tree, required, optional)
    except modules.MissingModule as exc:
        raise InfraError(
            f"{plan.package} {plan.version}: L1 needs module {exc} (neither a module file "
            f"under {release_dir} nor listed in modules.builtin)"
        ) from exc
