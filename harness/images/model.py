"""``ImageSet``: what the machine layer boots. Built from an entry's manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

KERNEL_IMAGE = "Image"
L1_INITRD = "l1-initrd.cpio"
L2_INITRD = "l2-initrd.cpio"
CLIENT_KEY = "id_ed25519"


@dataclass(frozen=True)
class ImageSet:
    kernel_profile: str          # "debian-6.1"
    kernel_package: str          # exact binary package, e.g. "linux-image-6.1.0-41-arm64"
    kernel_package_version: str  # resolved Debian version, e.g. "6.1.158-1"
    kernel_release: str          # `uname -r` inside the guest, e.g. "6.1.0-41-arm64"
    directory: Path              # the cache entry
    kernel_image: Path           # plain arm64 Image (for L1; the same kernel runs L2)
    l1_initrd: Path              # what QEMU gets as -initrd for L1
    ssh_client_key: Path         # private key (OpenSSH format) that L1's sshd accepts for root
    ssh_host_public_key: str     # L1's host key, "ssh-ed25519 AAAA..." (for known_hosts checks)
    cache_key: str
    manifest: dict[str, Any]     # versions, sizes, sha256 of every file
    # Which revision of the filter series a source-built kernel carries (kernel-rules.yaml
    # `revisions`); None for Debian's kernels and for series the oracle knows nothing of.
    kernel_revision: str | None = None
    # What was built and why the oracle predicts what it does, in one line (source kernels).
    kernel_prediction: str = ""

    @property
    def build(self) -> dict[str, Any] | None:
        """How a source kernel was built (tree, series hashes, fragments); None otherwise."""
        value = self.manifest["kernel"].get("build")
        return value if isinstance(value, dict) else None

    def sha256(self, path: Path) -> str:
        """The recorded SHA-256 of a file of this set (by path, inside ``directory``)."""
        name = path.relative_to(self.directory).as_posix() if path.is_absolute() else str(path)
        return str(self.manifest["files"][name]["sha256"])

    @property
    def kernel_sha256(self) -> str:
        return self.sha256(self.kernel_image)

    def summary(self) -> str:
        """One line for every result: profile, exact package version and the Image's hash."""
        return (f"{self.kernel_profile}: {self.kernel_package} {self.kernel_package_version} "
                f"(uname -r {self.kernel_release}, Image sha256 {self.kernel_sha256[:16]})")

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict[str, Any]) -> ImageSet:
        kernel = manifest["kernel"]
        return cls(
            kernel_profile=manifest["kernel_profile"],
            kernel_package=kernel["package"],
            kernel_package_version=kernel["version"],
            kernel_release=kernel["release"],
            directory=directory,
            kernel_image=directory / KERNEL_IMAGE,
            l1_initrd=directory / L1_INITRD,
            ssh_client_key=directory / CLIENT_KEY,
            ssh_host_public_key=manifest["ssh_host_public_key"],
            cache_key=manifest["cache_key"],
            manifest=manifest,
            kernel_revision=kernel.get("revision"),
            kernel_prediction=str(kernel.get("prediction") or ""),
        )
