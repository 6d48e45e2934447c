"""``kind: local``: the user's own arm64 Image (``--kernel-image``), with its modules tree
when its virtio-net is not built in; identified by the Image's SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.images.kernel import KernelFiles, KernelPlan, KernelRequest, with_modules, write_image
from harness.images.profiles import KernelProfile
from harness.store.download import sha256_file

PACKAGE = "local"


@dataclass(frozen=True)
class LocalKind:
    name: str = "local"
    built_here: bool = False
    takes_overrides: bool = False
    takes_local_image: bool = True

    def parse(self, raw: dict[str, Any], path: Path, name: str, description: str
              ) -> KernelProfile:
        return KernelProfile(name=name, description=description, kind=self.name, path=path)

    def plan(self, profile: KernelProfile, request: KernelRequest) -> KernelPlan:
        image, modules_dir = request.local_image, request.local_modules
        if image is None or not image.is_file():
            raise UsageError("the 'local' kernel profile needs --kernel-image PATH (an arm64 "
                             "Image)")
        if modules_dir is not None and not modules_dir.is_dir():
            raise UsageError(f"--kernel-modules {modules_dir}: not a directory")
        digest = sha256_file(image)
        listing = []
        if modules_dir is not None:
            listing = sorted(
                (str(p.relative_to(modules_dir)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in modules_dir.rglob("*") if p.is_file()
            )
        key = {"image_sha256": digest, "modules": listing}
        return KernelPlan(profile=profile, package=PACKAGE, version=f"sha256:{digest[:12]}",
                          key=key, local_image=image, local_modules=modules_dir)

    def unpack(self, plan: KernelPlan, work: Path, progress: bool) -> KernelFiles:
        assert plan.local_image is not None
        files = write_image(plan.local_image, work / "Image", "", plan)
        return with_modules(files, plan.local_modules, plan)


KIND = LocalKind()
