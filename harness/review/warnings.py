"""New compiler warnings in the files a series touches: the series' build log against its
base's. Both build in the same workspace, so a file the series changes is compiled again
and its warnings are in the series' log; one the base had too (same file, same text, line
numbers aside: the series moves lines) is not new."""

from __future__ import annotations

import re
from collections.abc import Iterable

WARNING = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:(?P<column>\d+):)? warning: "
                     r"(?P<message>.*)$", re.MULTILINE)


def _in(path: str, touched: Iterable[str]) -> str | None:
    """The touched tree path that the log's ``path`` names (logs say ``../src/a/b.c``)."""
    for name in touched:
        if path == name or path.endswith("/" + name):
            return name
    return None


def warnings_in(log: str, touched: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(file, line, message)`` of every warning in a touched file, in log order."""
    files = list(touched)
    found = []
    for match in WARNING.finditer(log):
        name = _in(match["file"], files)
        if name is not None:
            found.append((name, match["line"], match["message"].strip()))
    return found


def new_warnings(series_log: str, base_log: str, touched: Iterable[str]) -> list[str]:
    """``file:line: warning: message`` for each warning the base did not have."""
    files = list(touched)
    old = {(f, m) for f, _, m in warnings_in(base_log, files)}
    seen: set[tuple[str, str, str]] = set()
    lines = []
    for warning in warnings_in(series_log, files):
        if (warning[0], warning[2]) not in old and warning not in seen:
            seen.add(warning)
            lines.append(f"{warning[0]}:{warning[1]}: warning: {warning[2]}")
    return lines
