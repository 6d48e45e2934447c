"""``kind: debian``: a Debian kernel package, resolved through the profile's private apt to
an exact version (its metapackage's current dependency), fetched and hash-checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.images.kernel import KernelFiles, KernelPlan, KernelRequest, with_modules, write_image
from harness.images.profiles import KernelProfile
from harness.located import file_problem
from harness.store.apt import PrivateApt
from harness.store.aptspec import parse_apt_spec
from harness.store.debs import extract_all
from harness.store.download import fetch


@dataclass(frozen=True)
class DebianKind:
    name: str = "debian"
    built_here: bool = False
    takes_overrides: bool = False
    takes_local_image: bool = False

    def parse(self, raw: dict[str, Any], path: Path, name: str, description: str
              ) -> KernelProfile:
        metapackage = raw.get("metapackage")
        if not isinstance(metapackage, str) or not metapackage:
            raise file_problem(path, "a debian profile needs a metapackage (e.g. "
                                     "linux-image-arm64)")
        return KernelProfile(name=name, description=description, kind=self.name, path=path,
                             apt=parse_apt_spec(raw.get("apt"), path), metapackage=metapackage)

    def plan(self, profile: KernelProfile, request: KernelRequest) -> KernelPlan:
        assert profile.apt is not None and profile.metapackage is not None
        apt = PrivateApt(profile.apt)
        with apt.lock():
            apt.ensure_lists(0 if request.refresh else None)
            try:
                package, version, parts = apt.resolve_metapackage(profile.metapackage)
                refs = tuple(apt.exact(parts, version))
            except ValueError as exc:
                raise InfraError(f"{profile.name}: resolving {profile.metapackage} failed: "
                                 f"{exc}") from exc
        key = {"package": package, "version": version,
               "debs": {ref.package: ref.sha256 for ref in refs}}
        return KernelPlan(profile=profile, package=package, version=version, key=key,
                          apt=apt, refs=refs)

    def unpack(self, plan: KernelPlan, work: Path, progress: bool) -> KernelFiles:
        assert plan.apt is not None
        with plan.apt.lock():
            debs = fetch(plan.apt, plan.refs, progress=progress, label=plan.package)
        root = work / "kernel-deb"
        root.mkdir()
        extract_all(debs, root)
        vmlinuz, release = _find_vmlinuz(root, plan)
        files = write_image(vmlinuz, work / "Image", release, plan)
        return with_modules(files, _modules_of(root, release), plan)


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


def _modules_of(root: Path, release: str) -> Path | None:
    for base in ("lib/modules", "usr/lib/modules"):
        if (root / base / release).is_dir():
            return root / base / release
    return None


KIND = DebianKind()
