"""A size cap for the cache, kept by evicting the least recently used entries.

Image sets, built kernels, build workspaces and L1 snapshots are *entries*: directories
that can always be made again from their inputs, so they may go. Each has a "last used"
time (the directory's mtime, set by ``take`` whenever a command takes the entry) and a
*lease*: a shared ``flock`` on ``locks/lease-<section>-<name>.lock`` that a process holds
while it uses the entry. An entry is evicted only when its lease and its build lock
(``cache.lock_path``) can both be taken at once without waiting, so nothing a running
command uses, and nothing being built, ever goes. Every eviction is logged.

The rest of the cache (downloads, source trees, the userspace layer, tools, keys) is
counted against the cap but never evicted: it is the input every entry is rebuilt from.
ccache keeps itself under its own ``max_size``, which ``limit_ccache`` sets.

Sizes are apparent sizes (``st_size``); a file hard-linked from elsewhere (a workspace's
source tree shares its files with ``trees/``) is counted once, and an entry only frees
the files whose every link is inside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import stat
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.errors import UsageError

log = logging.getLogger(__name__)

# The sections whose entries may be evicted (their names are those the builders use:
# images.build.SECTION, kbuild.build.RESULTS and WORKSPACES, machine.snapshot's root;
# tests/unit/test_cache_budget.py checks they agree).
EVICTABLE = ("images", "kernels", "kbuild", "snapshots")
KIND_NAMES = {"images": "image sets", "kernels": "built kernels", "kbuild": "workspaces",
              "snapshots": "snapshots"}
LOCKS = "locks"
CCACHE = "ccache"

CAP_VARIABLE = "PMU_HARNESS_CACHE_MAX"
GIB = 1 << 30
# A hosted CI runner has about 14 GB of free disk (GitHub's standard Linux runner) and
# GitHub keeps 10 GB of caches per repository: 10 GiB leaves the runner room for a run's
# results and fits the cache it restores. A nightly with every L1 snapshot wants ~30 GiB
# on a workstation (README, "Bounded cache").
DEFAULT_CAP = 10 * GIB
# ccache's share of the cap; it trims itself to this (ccache's own default is 5 GB).
CCACHE_SHARE = 5
TEMPORARY = "."  # entries being written (cache.TMP_PREFIX, snapshot temporaries) start so

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": GIB, "T": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def parse_size(text: str, where: str) -> int:
    """Bytes from ``10G``, ``512M``, ``1.5GiB``, ``2000000000`` (binary units); a
    ``UsageError`` naming ``where`` (the variable or option) for anything else."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{where}: {text!r} is not a size (examples: 10G, 512M, 1.5GiB)")
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < 1 << 20:
        raise UsageError(f"{where}: {text!r} is below 1 MiB; the cache could hold nothing")
    return value


def configured_cap(environ: Mapping[str, str] | None = None) -> int:
    """The cap: ``PMU_HARNESS_CACHE_MAX`` when set, else ``DEFAULT_CAP``."""
    env = os.environ if environ is None else environ
    text = env.get(CAP_VARIABLE, "").strip()
    return parse_size(text, CAP_VARIABLE) if text else DEFAULT_CAP


def human(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size / (1 << 20):.0f} MiB"


@dataclass(frozen=True)
class Entry:
    """One evictable directory and what removing it would give back."""

    section: str
    path: Path
    size: int
    last_used: float  # seconds since the epoch

    @property
    def kind(self) -> str:
        return KIND_NAMES.get(self.section, self.section)

    def describe(self) -> str:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.last_used))
        return f"{self.section}/{self.path.name} ({human(self.size)}, last used {used})"


@dataclass(frozen=True)
class Usage:
    """The cache as found: its whole size and its evictable entries."""

    root: Path
    total: int
    entries: tuple[Entry, ...]


def _files(path: Path) -> Iterator[os.stat_result]:
    """``lstat`` of every regular file under ``path`` (symlinks are not followed)."""
    try:
        scan = os.scandir(path)
    except OSError:
        return
    with scan:
        for item in scan:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue  # removed while we looked
            if stat.S_ISDIR(info.st_mode):
                yield from _files(Path(item.path))
            elif stat.S_ISREG(info.st_mode):
                yield info


def _own_size(files: Sequence[os.stat_result]) -> int:
    """What removing these files frees: those linked only from among them."""
    size = 0
    shared: Counter[tuple[int, int]] = Counter()
    links: dict[tuple[int, int], tuple[int, int]] = {}
    for info in files:
        if info.st_nlink == 1:
            size += info.st_size
        else:
            inode = (info.st_dev, info.st_ino)
            shared[inode] += 1
            links[inode] = (info.st_nlink, info.st_size)
    return size + sum(links[i][1] for i, seen in shared.items() if seen >= links[i][0])


@dataclass
class _Tally:
    """The size of everything walked so far, each hard-linked file once."""

    total: int = 0
    seen: set[tuple[int, int]] = field(default_factory=set)

    def add(self, files: Iterator[os.stat_result] | Sequence[os.stat_result]) -> None:
        for info in files:
            if info.st_nlink > 1:
                inode = (info.st_dev, info.st_ino)
                if inode in self.seen:
                    continue
                self.seen.add(inode)
            self.total += info.st_size


def _entry(path: Path, tally: _Tally) -> Entry:
    files = list(_files(path))
    tally.add(files)
    try:
        used = path.stat().st_mtime
    except OSError:
        used = 0.0
    return Entry(path.parent.name, path, _own_size(files), used)


def entry_of(path: Path) -> Entry:
    """``path`` (``<root>/<section>/<name>``) as an entry, measured now."""
    return _entry(path, _Tally())


def _is_entry(item: Path) -> bool:
    return item.is_dir() and not item.is_symlink() and not item.name.startswith(TEMPORARY)


def scan(root: Path) -> Usage:
    """The whole cache's size and every complete evictable entry in it, in one walk (a
    cache with two kernel workspaces holds half a million files: seconds)."""
    tally = _Tally()
    entries = []
    for section in sorted(root.iterdir()) if root.is_dir() else []:
        if section.name not in EVICTABLE or not section.is_dir():
            tally.add(_files(section) if section.is_dir() else [])
            continue
        for item in sorted(section.iterdir()):
            if _is_entry(item):
                entries.append(_entry(item, tally))
            else:
                tally.add(_files(item))  # a half-written entry: counted, not evicted
    return Usage(root, tally.total, tuple(entries))


def least_recently_used(entries: Sequence[Entry]) -> list[Entry]:
    """Eviction order: the longest unused first (ties: the bigger first, then by path)."""
    return sorted(entries, key=lambda e: (e.last_used, -e.size, str(e.path)))


def over_cap(usage: Usage, cap: int) -> list[Entry]:
    """The entries to evict, oldest use first, until the cache would fit ``cap`` (every
    entry counted as evictable: ``enforce`` skips those in use and goes on)."""
    excess = usage.total - cap
    chosen = []
    for entry in least_recently_used(usage.entries):
        if excess <= 0:
            break
        chosen.append(entry)
        excess -= entry.size
    return chosen


# -- leases --------------------------------------------------------------------------------


def lease_path(entry: Path) -> Path:
    return entry.parent.parent / LOCKS / f"lease-{entry.parent.name}-{entry.name}.lock"


def build_lock_path(entry: Path) -> Path:
    """The entry's build lock (``cache.lock_path`` of its section and name)."""
    return entry.parent.parent / LOCKS / f"{entry.parent.name}-{entry.name}.lock"


@dataclass
class Leases:
    """The leases this process holds: open files with a shared ``flock`` each."""

    held: dict[Path, IO[str]] = field(default_factory=dict)

    def take(self, entry: Path) -> None:
        """Mark ``entry`` used now and keep it from eviction until released."""
        if entry not in self.held:
            path = lease_path(entry)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("a")
            except OSError as exc:
                # A read-only cache cannot be evicted from either.
                log.debug("no lease on %s: %s", entry, exc)
                return
            # Shared: any number of users; an evictor's exclusive try then fails. It only
            # waits while an evictor holds it, which takes no longer than one removal.
            fcntl.flock(handle, fcntl.LOCK_SH)
            self.held[entry] = handle
        with contextlib.suppress(OSError):
            os.utime(entry)

    def release_all(self) -> None:
        for handle in self.held.values():
            handle.close()  # closing the file drops its flock
        self.held.clear()


# This process's leases; they also end with the process (a worker, a command).
LEASES = Leases()


def take(entry: Path) -> None:
    """This process uses ``entry`` from now on (see ``Leases.take``)."""
    LEASES.take(entry)


def release_all() -> None:
    """This process uses no entry any more (a mutants run moving to the next mutant)."""
    LEASES.release_all()


@contextlib.contextmanager
def _try_exclusive(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def unused(entry: Path) -> Iterator[bool]:
    """Whether nobody leases or builds ``entry``; while True, nobody can start to."""
    with _try_exclusive(lease_path(entry)) as free, _try_exclusive(build_lock_path(entry)) \
            as idle:
        yield free and idle


def evict(entry: Entry, why: str) -> bool:
    """Remove ``entry`` unless it is in use; True when it went. Logged either way."""
    with unused(entry.path) as free:
        if not free:
            log.info("pmu-harness: cache: kept %s: in use", entry.describe())
            return False
        shutil.rmtree(entry.path, ignore_errors=True)
    log.info("pmu-harness: cache: evicted %s: %s", entry.describe(), why)
    return True


@dataclass(frozen=True)
class Enforced:
    """What one pass of ``enforce`` did."""

    cap: int
    before: int
    after: int
    evicted: tuple[Entry, ...]


def without(usage: Usage, gone: Sequence[Entry]) -> Usage:
    """``usage`` once ``gone`` are removed (what a dry run of ``images prune`` counts on)."""
    paths = {e.path for e in gone}
    return Usage(usage.root, usage.total - sum(e.size for e in gone),
                 tuple(e for e in usage.entries if e.path not in paths))


def enforce(root: Path, cap: int, *, dry_run: bool = False,
            gone: Sequence[Entry] = ()) -> Enforced:
    """Evict the least recently used entries nobody uses until the cache fits ``cap``
    (``dry_run``: only say which would go, as if ``gone`` had gone already).

    One process at a time (``locks/budget.lock``): two workers finishing together would
    otherwise both count the same excess and evict twice as much."""
    if not dry_run:
        limit_ccache(root, cap)
    lock = root / LOCKS / "budget.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        usage = without(scan(root), gone)
        total, evicted = usage.total, []
        for entry in over_cap(usage, cap):
            if dry_run:
                with unused(entry.path) as free:
                    went = free
            else:
                went = evict(entry, f"the cache is over its cap of {human(cap)}")
            if went:
                total -= entry.size
                evicted.append(entry)
        if total > cap and not dry_run:
            log.warning("pmu-harness: cache: %s is %s, over its cap of %s: the rest is in "
                        "use or is downloads and sources (%s to raise the cap)", root,
                        human(total), human(cap), CAP_VARIABLE)
    return Enforced(cap, usage.total, total, tuple(evicted))


def after_store(root: Path) -> None:
    """Keep the cap after something was added to the cache; never fails the command."""
    try:
        enforce(root, configured_cap())
    except (OSError, UsageError) as exc:
        # The CLI reads the cap before it runs anything; another front end may not have.
        log.warning("pmu-harness: cache: could not keep it under its cap: %s", exc)


def limit_ccache(root: Path, cap: int) -> None:
    """Set ccache's ``max_size`` in ``<root>/ccache/ccache.conf`` to its share of the cap
    (other settings in that file are kept). Only once ccache has made its directory: the
    first kernel build is followed by its image set's store, which calls this, and ccache
    trims itself to the new size on its next run."""
    conf = root / CCACHE / "ccache.conf"
    wanted = f"max_size = {max(cap // CCACHE_SHARE >> 20, 1)}Mi"
    if not conf.parent.is_dir():
        return
    try:
        lines = conf.read_text().splitlines() if conf.is_file() else []
        kept = [line for line in lines if not line.strip().startswith("max_size")]
        if wanted in lines and len(kept) == len(lines) - 1:
            return
        conf.write_text("\n".join([*kept, wanted]) + "\n")
    except OSError as exc:
        log.warning("pmu-harness: cache: could not set ccache's max_size: %s", exc)
