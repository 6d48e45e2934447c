"""The ``uname -r`` of a kernel Image, read from its banner (no boot needed)."""

from __future__ import annotations

import re

RELEASE = re.compile(rb"Linux version (\S+) ")


def image_release(data: bytes) -> str:
    """``uname -r`` from the ``Linux version ...`` banner inside an uncompressed Image."""
    match = RELEASE.search(data)
    if not match:
        raise ValueError("no 'Linux version' banner in the Image")
    return match[1].decode()
