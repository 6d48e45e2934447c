"""Unpack .deb files into a tree: dpkg-deb + tar; no maintainer scripts, no root tricks."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.errors import InfraError
from harness.store.run import tail

EXTRACT_TIMEOUT = 300
# After SIGKILL a process is gone as soon as the kernel has torn it down: seconds at most.
REAP_TIMEOUT = 30
MERGED_USR = ("bin", "sbin", "lib")


def merged_usr(root: Path) -> None:
    """Make ``bin``, ``sbin`` and ``lib`` symlinks into ``usr`` (trixie trees require it)."""
    for name in MERGED_USR:
        (root / "usr" / name).mkdir(parents=True, exist_ok=True)
        link = root / name
        if not link.is_symlink():
            link.symlink_to(f"usr/{name}")


def extract(deb: Path, root: Path, members: Sequence[str] = ()) -> None:
    """Unpack ``deb``'s files under ``root`` (only ``members`` globs if given)."""
    reader = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    tar = ["tar", "-x", "--keep-directory-symlink", "-C", str(root)]
    if members:
        tar += ["--wildcards", *members]
    try:
        done = subprocess.run(tar, stdin=reader.stdout, capture_output=True, text=True,
                              timeout=EXTRACT_TIMEOUT, check=False)
        reader.wait(timeout=EXTRACT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        reader.kill()
        # Killed is not gone: reap it, or every timed-out unpack leaves a zombie behind.
        with contextlib.suppress(subprocess.TimeoutExpired):
            reader.wait(timeout=REAP_TIMEOUT)
        if reader.stderr:
            reader.stderr.close()
        raise InfraError(f"unpacking {deb.name} timed out after {EXTRACT_TIMEOUT} s") from exc
    finally:
        if reader.stdout:
            reader.stdout.close()
    reader_err = ""
    if reader.stderr:
        with reader.stderr:
            reader_err = reader.stderr.read().decode(errors="replace")
    if reader.returncode != 0 or (done.returncode != 0 and not members):
        raise InfraError(f"unpacking {deb.name} failed (is the cached .deb damaged?)",
                         log_tail=tail(reader_err + done.stderr), command=tuple(tar))


def extract_all(debs: Sequence[Path], root: Path, *, jobs: int = 4) -> None:
    """Unpack many .debs into one tree (in parallel: each is mostly decompression)."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(extract, deb, root) for deb in debs]:
            future.result()
