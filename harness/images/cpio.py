"""Write "newc" cpio archives (what the kernel unpacks as an initramfs) without host tools.

Written here rather than with GNU cpio so that ownership is always right (the tree may be
owned by anyone on the host), device nodes can be added without root, and the output is
reproducible (fixed mtimes, sorted names). The kernel accepts several archives
concatenated, which lets a large shared layer be reused by appending a small one.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def _pad(length: int) -> bytes:
    return b"\0" * ((4 - length % 4) % 4)


class CpioWriter:
    """Append entries to ``out``; call :meth:`finish` once to write the trailer."""

    def __init__(self, out: BinaryIO, *, mtime: int = 0) -> None:
        self._out = out
        self._mtime = mtime
        self._ino = 1

    def _header(self, name: str, mode: int, size: int, *, uid: int = 0, gid: int = 0,
                rdev: tuple[int, int] = (0, 0), nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, uid, gid, nlink, self._mtime, size, 0, 0,
                  rdev[0], rdev[1], len(encoded), 0)
        header = MAGIC + b"".join(b"%08X" % value for value in fields)
        self._ino += 1
        self._out.write(header + encoded + _pad(len(header) + len(encoded)))

    @staticmethod
    def _claim(name: str) -> str:
        return name.strip("/") or "."

    def add_dir(self, name: str, mode: int = 0o755, *, uid: int = 0, gid: int = 0) -> None:
        self._header(self._claim(name), stat.S_IFDIR | mode, 0, uid=uid, gid=gid, nlink=2)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._header(self._claim(name), stat.S_IFREG | mode, len(data))
        self._out.write(data + _pad(len(data)))

    def add_file(self, name: str, source: Path, *, mode: int | None = None,
                 uid: int = 0, gid: int = 0) -> None:
        info = source.stat()
        perms = stat.S_IMODE(info.st_mode) if mode is None else mode
        self._header(self._claim(name), stat.S_IFREG | perms, info.st_size, uid=uid, gid=gid)
        with source.open("rb") as handle:
            shutil.copyfileobj(handle, self._out, 1 << 20)
        self._out.write(_pad(info.st_size))

    def add_symlink(self, name: str, target: str) -> None:
        data = target.encode()
        self._header(self._claim(name), stat.S_IFLNK | 0o777, len(data))
        self._out.write(data + _pad(len(data)))

    def add_node(self, name: str, kind: str, major: int, minor: int, mode: int = 0o600) -> None:
        """A device node; ``kind`` is ``"c"`` or ``"b"``."""
        file_type = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
        self._header(self._claim(name), file_type | mode, 0, rdev=(major, minor))

    def add_tree(self, root: Path, prefix: str = "") -> None:
        """Every entry under ``root`` (sorted, parents first), named ``prefix/<relative>``."""
        for directory, dirnames, filenames in os.walk(root):
            dirnames.sort()
            base = Path(directory)
            relative = base.relative_to(root).as_posix()
            for name in [relative, *(f"{relative}/{f}" for f in sorted(filenames))]:
                self._add_path(root / name, f"{prefix}/{name}".lstrip("/"))
            for name in dirnames:  # directory symlinks are not walked into
                path = base / name
                if path.is_symlink():
                    self._add_path(path, f"{prefix}/{relative}/{name}".lstrip("/"))

    def _add_path(self, path: Path, name: str) -> None:
        name = os.path.normpath(name)
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            self.add_symlink(name, str(path.readlink()))
        elif stat.S_ISDIR(info.st_mode):
            if name != ".":
                self.add_dir(name, stat.S_IMODE(info.st_mode), uid=info.st_uid, gid=info.st_gid)
        elif stat.S_ISREG(info.st_mode):
            self.add_file(name, path, uid=info.st_uid, gid=info.st_gid)

    def finish(self) -> None:
        self._header(TRAILER, 0, 0, nlink=1)
        self._out.flush()


def write_tree(root: Path, out_path: Path) -> None:
    """``out_path`` becomes an uncompressed cpio archive of everything under ``root``."""
    with out_path.open("wb") as out:
        writer = CpioWriter(out)
        writer.add_tree(root)
        writer.finish()
