"""Paths inside an extracted guest tree: symlinks resolve against the tree, never the host."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

MAX_LINKS = 40


def resolve(root: Path, guest_path: str) -> Path | None:
    """The host path of ``guest_path`` inside ``root`` after following every symlink as the
    guest would (absolute targets are relative to ``root``); None if it does not exist."""
    parts = list(PurePosixPath("/", guest_path).parts[1:])
    current = PurePosixPath("/")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        host = root / str(candidate).lstrip("/")
        if host.is_symlink():
            hops += 1
            if hops > MAX_LINKS:
                return None
            target = PurePosixPath(host.readlink())
            base = PurePosixPath("/") if target.is_absolute() else current
            parts = [*PurePosixPath(base, target).parts[1:], *parts]
            current = PurePosixPath("/")
            continue
        if not host.exists():
            return None
        current = candidate
    return root / str(current).lstrip("/")


def remove_globs(root: Path, globs: tuple[str, ...]) -> None:
    """Delete every path matching one of ``globs`` (relative to ``root``)."""
    for pattern in globs:
        for path in sorted(root.glob(pattern), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
