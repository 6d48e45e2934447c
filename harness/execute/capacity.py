"""How many L1 machines this host can run at once: one per core, as far as memory goes."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

# One L1 runs single-vCPU work most of the time (the probe and L2 use one vCPU), and needs
# its profile's memory plus QEMU's own: this is what a default -j budgets per machine.
GIB_PER_L1 = 4
MEMINFO = Path("/proc/meminfo")
_AVAILABLE = re.compile(r"^MemAvailable:\s+(\d+) kB$", re.MULTILINE)


def mem_available(meminfo: str) -> int | None:
    """Bytes the kernel says new work can have without swapping (``MemAvailable``: free
    memory plus the page cache and slab it can reclaim); None when the text has no such
    line (kernels before 3.14)."""
    found = _AVAILABLE.search(meminfo)
    return int(found.group(1)) * 1024 if found else None


def _available_bytes(meminfo: Path) -> int | None:
    """MemAvailable, or free memory where the kernel does not say; None if neither is known.

    Free memory alone is the wrong measure on a host that has run for a while: the page
    cache (the snapshots and images the last run read) fills what is free. A 24 GiB
    machine with 14 GiB of cache and 7.2 GiB free ran the nightly with -j 1 (9.1 min; with
    -j 2 it took 5.6-6.7 min the same day)."""
    try:
        available = mem_available(meminfo.read_text())
    except OSError as exc:
        log.debug("no %s: %s", meminfo, exc)
        available = None
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def default_jobs(meminfo: Path = MEMINFO) -> int:
    """What this host allows: one L1 per core, as far as memory goes."""
    cores = len(os.sched_getaffinity(0))
    available = _available_bytes(meminfo)
    by_memory = 1 if available is None else max(1, available // (GIB_PER_L1 << 30))
    return max(1, min(cores, by_memory))
