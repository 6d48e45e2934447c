"""Find QEMU processes by what their command line mentions (a run directory)."""

from __future__ import annotations

from pathlib import Path


def qemu_pids_mentioning(text: str) -> list[int]:
    """PIDs of live (not zombie) qemu-system processes whose argv contains `text`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # exited while we looked
        if state == "Z" or not argv or b"qemu-system" not in argv[0]:
            continue
        if any(text.encode() in arg for arg in argv):
            pids.append(int(proc.name))
    return pids
