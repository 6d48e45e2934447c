"""The one live status line of a long step (a download, a kernel build), owned by the front
end.

The library says what it is doing now (``update``) and that it is done (``clear``); whether
that is drawn, and where, is the front end's choice (``install``): the CLI draws it on a
terminal's last line and clears it before any log line is written, so the two never mix.
Where nothing is installed (a worker process, the avocado runner, a pipe) nothing is drawn;
the library logs the start and end of each step itself (``live`` says which to do).
"""

from __future__ import annotations

import shutil
from typing import Protocol, TextIO


class StatusLine(Protocol):
    def update(self, text: str) -> None: ...

    def clear(self) -> None: ...


class NoLine:
    """Nothing drawn."""

    def update(self, text: str) -> None:
        pass

    def clear(self) -> None:
        pass


class TerminalLine:
    """The last line of a terminal, rewritten in place; never wider than the terminal (a
    wrapped line could not be taken back)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def update(self, text: str) -> None:
        width = shutil.get_terminal_size().columns - 1
        self.stream.write(f"\r\033[K{text[:width]}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


_line: StatusLine = NoLine()


def install(line: StatusLine) -> StatusLine:
    """Make ``line`` this process's status line; the one it replaces, to put back."""
    global _line
    previous, _line = _line, line
    return previous


def live() -> bool:
    """Whether a status line is drawn (else a step logs its start and end)."""
    return not isinstance(_line, NoLine)


def update(text: str) -> None:
    _line.update(text)


def clear() -> None:
    _line.clear()
