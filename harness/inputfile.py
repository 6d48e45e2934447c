"""Reading a file the user named: bounded, regular files only, every refusal located.

A scenario, a results file or a bundle comes from whoever wrote it. Reading one must not
block (a FIFO), grow without end (``/dev/zero``) or hide why it failed (a symlink loop is
not "no such file"), so every input file goes through ``read_bounded``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from harness.errors import Located, UsageError


def _refusal(path: Path, message: str) -> UsageError:
    return _located(path, None, message)


def why_unreadable(exc: OSError) -> str:
    """What an ``OSError`` from opening a path means, in words a user can act on."""
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links (a symlink loop?)"
    return str(exc.strerror or exc).lower()


def read_bounded(path: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Opened non-blocking so that a FIFO cannot stall the open, then checked with ``fstat``
    on the open descriptor (no race with a rename): directories, FIFOs, sockets and devices
    are refused, and so is a file larger than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _refusal(path, f"cannot read: {why_unreadable(exc)}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise _refusal(path, f"{kind}: a {what} must be a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _refusal(path, f"cannot read: {why_unreadable(exc)}") from None
    if len(data) > limit:
        raise _refusal(path, f"larger than {limit} bytes, the limit for a {what}")
    return data


# JSON written by the harness is a few levels deep (results > entry > checks > check);
# deeper input is not ours, and walking it (repr, merging) would recurse without bound.
MAX_JSON_NESTING = 64


def _nesting_exceeds(value: object, limit: int) -> bool:
    """Whether ``value`` nests lists/objects more than ``limit`` deep (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: list[object] = []
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        if children and depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def read_json(path: Path, limit: int, what: str) -> object:
    """A JSON document from a regular file of at most ``limit`` bytes; whatever is wrong
    with it is a ``UsageError`` located in the file."""
    data = read_bounded(path, limit, what)
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _located(path, line, f"not valid JSON: not UTF-8 (byte 0x{data[exc.start]:02x})"
                       ) from None
    except json.JSONDecodeError as exc:
        raise _located(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except ValueError as exc:  # a number past Python's digit limit
        raise _located(path, None, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(path, what) from None
    if _nesting_exceeds(value, MAX_JSON_NESTING):
        raise _too_deep(path, what)
    return value


def _too_deep(path: Path, what: str) -> UsageError:
    return _located(path, None, f"nested more than {MAX_JSON_NESTING} levels deep: not a {what}")


def _located(path: Path, line: int | None, message: str) -> UsageError:
    problem = Located(path, line, message)
    return UsageError(str(problem), (problem,))
