"""Which built kernels and build workspaces a long-lived host no longer needs.

Each build key leaves a result (an Image, its .config and log: tens of MB) and each
configuration a workspace (a hard-linked source tree and an ``O=`` tree: about a GB). The
newest results of each profile are kept; a workspace is kept while a kept result came
from it, so the next edit of those profiles still rebuilds incrementally.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.kbuild.build import RESULTS, WORKSPACES
from harness.store import cache
from harness.store.locking import file_lock


@dataclass(frozen=True)
class Entry:
    path: Path
    profile: str
    created: str
    workspace: str
    series: tuple[str, ...] = ()  # names, in order: a profile built with --series differs

    @property
    def line(self) -> tuple[str, tuple[str, ...]]:
        """What is kept N of: a profile with one series line-up (a mutant, ``--series``,
        must never push out the profile's own kernel)."""
        return self.profile, self.series


def built_kernels() -> list[Entry]:
    entries = []
    for directory in sorted(cache.section_dir(RESULTS).iterdir()):
        manifest = cache.read_manifest(directory)
        if manifest is None or directory.name.startswith(cache.TMP_PREFIX):
            continue
        series = manifest.get("series", [])
        names = tuple(str(s.get("name", "?")) for s in series if isinstance(s, dict)) \
            if isinstance(series, list) else ()
        entries.append(Entry(directory, str(manifest.get("profile", "?")),
                             str(manifest.get("created", "")),
                             str(manifest.get("workspace", "")), names))
    return entries


def stale(keep: int) -> tuple[list[Entry], list[Path]]:
    """Results beyond the ``keep`` newest per profile and series line-up, and workspaces no
    kept result used."""
    entries = built_kernels()
    by_profile: dict[tuple[str, tuple[str, ...]], list[Entry]] = defaultdict(list)
    for entry in entries:
        by_profile[entry.line].append(entry)
    old: list[Entry] = []
    for members in by_profile.values():
        old += sorted(members, key=lambda e: e.created, reverse=True)[max(keep, 0):]
    used = {e.workspace for e in entries if e not in old}
    workspaces = [p for p in sorted(cache.section_dir(WORKSPACES).iterdir())
                  if p.is_dir() and str(p) not in used]
    return old, workspaces


def remove(path: Path, section: str) -> int:
    """Delete a result or workspace under its lock; the bytes it held."""
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()
               and p.stat().st_nlink == 1)
    with file_lock(cache.lock_path(section, path.name)):
        shutil.rmtree(path, ignore_errors=True)
    return size
