"""Files that appear whole or not at all: reports are read by CI while runs still go on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.errors import Located, UsageError


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` beside ``path`` and rename it over ``path``: a reader never sees half a
    file, and two writers (pid in the temporary's name) never write into one temporary."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        # A full disk must not leave half a report behind, under any name.
        tmp.unlink(missing_ok=True)
        raise


def check_output_paths(paths: Iterable[Path | None], what: str = "report") -> None:
    """Refuse, before anything runs, a report that could not be written at the end: a
    missing directory (or a directory where the file should be) found after an hour of
    running would cost the run its report, or its exit code its meaning."""
    problems = []
    for path in paths:
        if path is None:
            continue
        if path.is_dir():
            problems.append(Located(path, None, f"is a directory; the {what} is a file"))
        elif not path.parent.is_dir():
            problems.append(Located(path, None, f"cannot write the {what} here: "
                                    f"{path.parent} is not a directory"))
    if problems:
        raise UsageError(f"{len(problems)} problem(s)", tuple(problems))


def write_each(writers: Iterable[tuple[Path | None, Callable[[Path], None]]]) -> list[str]:
    """Call every writer whose path is set; return ``path: error`` for each that failed."""
    failed = []
    for path, write in writers:
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            failed.append(f"{path}: {exc}")
    return failed
