"""Files that appear whole or not at all: reports are read by CI while runs still go on."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` beside ``path`` and rename it over ``path``: a reader never sees half a
    file, and two writers (pid in the temporary's name) never write into one temporary."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
