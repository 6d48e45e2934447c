"""Kernel source trees: a Debian ``linux-source-X`` package at a pinned version, unpacked
once into the cache and never written again, or the user's own checkout (``--tree DIR``).

Either way a tree has an *identity* (what a build key hashes) and a version (what the
oracle's kernel rules are chosen by).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfraError, UsageError
from harness.store import cache
from harness.store.apt import PrivateApt
from harness.store.aptspec import AptSpec
from harness.store.download import fetch
from harness.store.locking import file_lock

LOG = logging.getLogger(__name__)
SECTION = "trees"
UNPACK_TIMEOUT = 1800.0
GIT_TIMEOUT = 120.0
MAKEFILE_VERSION = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class TreeSpec:
    """Where a profile's tree comes from: a Debian source package, or a directory."""

    package: str | None = None
    version: str | None = None
    apt: AptSpec | None = None
    directory: Path | None = None

    def describe(self) -> str:
        if self.directory is not None:
            return str(self.directory)
        return f"{self.package} {self.version}"


@dataclass(frozen=True)
class SourceTree:
    root: Path                  # the pristine tree (Makefile at its top)
    version: str                # "5.10.223-1" (package) or "5.10.0" (Makefile) for the oracle
    identity: dict[str, Any]    # feeds build keys
    describe: str


def open_tree(spec: TreeSpec, *, progress: bool) -> SourceTree:
    if spec.directory is not None:
        return _user_tree(spec.directory)
    assert spec.package and spec.version and spec.apt
    return _debian_tree(spec.package, spec.version, spec.apt, progress=progress)


def _debian_tree(package: str, version: str, spec: AptSpec, *, progress: bool) -> SourceTree:
    apt = PrivateApt(spec)
    with apt.lock():
        apt.ensure_lists()
        try:
            refs = apt.exact([package], version)
        except (ValueError, InfraError) as exc:
            raise UsageError(f"kernel source {package}={version} is not in {spec.name} "
                             f"({spec.sources[0].uri}): {exc}") from exc
    identity = {"package": package, "version": version, "sha256": refs[0].sha256}
    final = cache.section_dir(SECTION) / f"{package}_{version}"
    with file_lock(cache.lock_path(SECTION, final.name), what=f"source tree {final.name}"):
        manifest = cache.read_manifest(final)
        if manifest is None or manifest.get("identity") != identity:
            with apt.lock():
                debs = fetch(apt, refs, progress=progress, label=package)
            with cache.atomic_dir(final) as tmp:
                _unpack_source_deb(debs[0], tmp)
                cache.write_manifest(tmp, {"identity": identity, "files": {}})
    return SourceTree(final / "linux", version, identity, f"{package} {version}")


def _unpack_source_deb(deb: Path, out: Path) -> None:
    """``/usr/src/linux-source-X.tar.xz`` inside the .deb, unpacked to ``out/linux``."""
    LOG.info("unpacking %s (a minute or two)", deb.name)
    staging = out / "deb"
    _run(["dpkg-deb", "-x", str(deb), str(staging)], f"unpacking {deb.name}")
    tarballs = sorted((staging / "usr/src").glob("linux-source-*.tar.*"))
    if not tarballs:
        raise InfraError(f"{deb.name} has no /usr/src/linux-source-*.tar.* inside")
    _run(["tar", "-xf", str(tarballs[0]), "-C", str(out)], f"unpacking {tarballs[0].name}")
    shutil.rmtree(staging)
    tops = [p for p in out.iterdir() if p.is_dir() and (p / "Makefile").is_file()]
    if len(tops) != 1:
        raise InfraError(f"{tarballs[0].name}: expected one top directory with a Makefile")
    tops[0].rename(out / "linux")


def _run(command: list[str], what: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=UNPACK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"{what}: {exc}", command=tuple(command)) from exc
    if done.returncode != 0:
        raise InfraError(f"{what}: exit status {done.returncode}", command=tuple(command),
                         log_tail=(done.stdout + done.stderr)[-3000:])
    return done.stdout


def makefile_version(root: Path) -> str:
    """``VERSION.PATCHLEVEL.SUBLEVEL`` from the top Makefile."""
    try:
        head = (root / "Makefile").read_text(errors="replace")[:4096]
    except OSError as exc:
        raise UsageError(f"{root}: not a kernel tree (no readable Makefile)") from exc
    fields = dict(MAKEFILE_VERSION.findall(head))
    if {"VERSION", "PATCHLEVEL"} - fields.keys():
        raise UsageError(f"{root}/Makefile: no VERSION/PATCHLEVEL: not a kernel tree")
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields.get('SUBLEVEL', '0')}"


def _user_tree(directory: Path) -> SourceTree:
    root = directory.expanduser().resolve()
    if not (root / "Makefile").is_file() or not (root / "arch/arm64").is_dir():
        raise UsageError(f"--tree {directory}: not an arm64-capable kernel tree "
                         "(no Makefile or arch/arm64)")
    version = makefile_version(root)
    identity = {"directory": str(root), "version": version, "content": _content_id(root)}
    return SourceTree(root, version, identity, f"{root} ({version})")


def _content_id(root: Path) -> str:
    """A git checkout: HEAD's tree plus the uncommitted diff. Otherwise every file's size
    and modification time (cheap, and a change is never missed, only over-reported)."""
    if (root / ".git").exists():
        try:
            head = _run(["git", "rev-parse", "HEAD^{tree}"], "git rev-parse", cwd=root)
            diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=root,
                                  capture_output=True, timeout=GIT_TIMEOUT, check=True).stdout
            untracked = _run(["git", "ls-files", "--others", "--exclude-standard"],
                             "git ls-files", cwd=root)
        except (InfraError, subprocess.SubprocessError, OSError) as exc:
            raise InfraError(f"--tree {root}: git could not describe the checkout: {exc}"
                             ) from exc
        changes = hashlib.sha256(diff + untracked.encode()).hexdigest()
        return f"git:{head.strip()}+{changes[:16]}"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            digest.update(f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n"
                          .encode())
    return f"files:{digest.hexdigest()}"
