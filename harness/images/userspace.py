"""The shared L1 userspace layer: one bookworm tree for every kernel profile.

Built once per (recipe, resolved package set) and cached as ``<cache>/userspace/<key>/``:
``userspace.cpio`` (the bulk of L1's initramfs) and ``l2-initrd.cpio``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.images.closure import prune_libraries
from harness.images.cpio import write_tree
from harness.images.l2 import build_l2_initrd
from harness.images.model import L2_INITRD
from harness.images.recipe import (
    L1_DIR,
    L2_DIR,
    UserspaceRecipe,
    code_hashes,
    load_userspace_recipe,
    recipe_hashes,
)
from harness.images.tree import remove_globs
from harness.store import cache
from harness.store.apt import DebRef, PrivateApt
from harness.store.debs import extract_all, merged_usr
from harness.store.download import fetch
from harness.store.locking import file_lock

SECTION = "userspace"
CPIO = "userspace.cpio"
CODE = ("images/userspace", "store/debs", "images/cpio", "images/elf", "images/l2",
        "images/tree", "images/closure")
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
SHADOW = "root:*:19000:0:99999:7:::\n"
DIRECTORIES = {"proc": 0o555, "sys": 0o555, "dev": 0o755, "run": 0o755, "tmp": 0o1777,
               "root": 0o700, "root/.ssh": 0o700, "etc/dropbear": 0o755, "var/log": 0o755,
               "var/tmp": 0o1777, "mnt": 0o755, "opt/pmu-harness": 0o755}


@dataclass(frozen=True)
class UserspacePlan:
    recipe: UserspaceRecipe
    apt: PrivateApt
    refs: tuple[DebRef, ...]
    key: str

    @property
    def directory(self) -> Path:
        return cache.section_dir(SECTION) / self.key[:20]


def plan_userspace(*, refresh: bool = False) -> UserspacePlan:
    """Resolve the userspace package set (network only when the lists are stale)."""
    recipe = load_userspace_recipe()
    apt = PrivateApt(recipe.apt)
    with apt.lock():
        apt.ensure_lists(0 if refresh else None)
        try:
            refs = tuple(apt.closure(recipe.packages))
        except ValueError as exc:
            raise InfraError(f"resolving the L1 userspace packages failed: {exc}") from exc
    key = cache.digest({
        "packages": [[r.package, r.version, r.sha256] for r in refs],
        "recipe": recipe_hashes(L1_DIR / "userspace.yaml", L1_DIR / "trim.txt",
                                L1_DIR / "busybox-applets.txt",
                                L1_DIR / "keep-libraries.txt", L2_DIR),
        "code": code_hashes(*CODE),
    })
    return UserspacePlan(recipe=recipe, apt=apt, refs=refs, key=key)


def ensure_userspace(plan: UserspacePlan, *, progress: bool) -> tuple[Path, dict[str, Any]]:
    """The cached layer directory and its manifest (built now if missing or damaged)."""
    final = plan.directory
    with file_lock(cache.lock_path(SECTION, final.name), what="the L1 userspace"):
        manifest = cache.read_manifest(final)
        if manifest is not None and not cache.verify_entry(final, quick=True):
            return final, manifest
        with cache.atomic_dir(final) as tmp:
            manifest = _build(plan, tmp, progress=progress)
        return final, manifest


def _build(plan: UserspacePlan, out: Path, *, progress: bool) -> dict[str, Any]:
    started = time.monotonic()
    with plan.apt.lock():
        debs = fetch(plan.apt, plan.refs, progress=progress, label="L1 userspace")
    tree = out / "tree"
    tree.mkdir()
    merged_usr(tree)
    extract_all(debs, tree)
    extracted = time.monotonic()
    customise(tree, plan.recipe)
    l2_files = build_l2_initrd(tree, out / L2_INITRD)
    write_tree(tree, out / CPIO)
    shutil.rmtree(tree)
    manifest: dict[str, Any] = {
        "format": 1,
        "key": plan.key,
        "packages": {r.package: r.version for r in plan.refs},
        "l2_initrd_contents": l2_files,
        "files": cache.describe_files(out, [CPIO, L2_INITRD]),
        "seconds": {"extract": round(extracted - started, 2),
                    "total": round(time.monotonic() - started, 2)},
    }
    cache.write_manifest(out, manifest)
    return manifest


def customise(tree: Path, recipe: UserspaceRecipe) -> None:
    """What dpkg's maintainer scripts would have done, as far as L1 needs it; then trim."""
    for name, mode in DIRECTORIES.items():
        path = tree / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    for name, text in {"passwd": PASSWD, "group": GROUP, "shadow": SHADOW,
                       "shells": "/bin/sh\n", "hostname": "pmu-l1\n",
                       "inittab": "::ctrlaltdel:/bin/busybox reboot -f\n"}.items():
        (tree / "etc" / name).write_text(text)
    (tree / "etc/shadow").chmod(0o600)
    _link_applets(tree, recipe.applets)
    remove_globs(tree, recipe.trim)
    prune_libraries(tree, recipe.keep_libraries)


def _link_applets(tree: Path, applets: tuple[str, ...]) -> None:
    if not (tree / "usr/bin/busybox").exists():
        raise InfraError("busybox-static did not provide /usr/bin/busybox in the L1 tree")
    for applet in applets:
        if any(os.path.lexists(tree / d / applet) for d in ("usr/bin", "usr/sbin")):
            continue
        (tree / "usr/bin" / applet).symlink_to("busybox")
