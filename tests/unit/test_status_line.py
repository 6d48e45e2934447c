"""The one status line: a download's bar is drawn on it where the front end draws one,
logged as start and end lines where it does not, and a log line never lands inside it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from harness import status
from harness.cli import _LogHandler
from harness.store.download import Bar

CLEAR = "\r\033[K"


@pytest.fixture()
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("COLUMNS", "200")  # the line is cut to the terminal's width
    screen = io.StringIO()
    previous = status.install(status.TerminalLine(screen))
    yield screen
    status.install(previous)


def test_a_bar_is_drawn_on_the_status_line_and_taken_away(
        terminal: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="harness")
    bar = Bar("downloading x (1 packages)", 2_000_000, enabled=True)
    bar.update(1_000_000)
    bar.close(True)
    assert terminal.getvalue() == (
        f"{CLEAR}downloading x (1 packages): [###############...............]"
        f"    1.0/2.0 MB{CLEAR}")
    assert caplog.messages == ["downloading x (1 packages): done"]


def test_without_a_status_line_a_bar_is_two_log_lines(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="harness")
    assert not status.live()
    bar = Bar("downloading x (1 packages)", 2_000_000, enabled=True)
    bar.update(1_000_000)
    bar.close(False)
    assert caplog.messages == ["downloading x (1 packages): 2.0 MB ...",
                               "downloading x (1 packages): FAILED"]


def test_a_log_line_takes_the_status_line_away_first(terminal: io.StringIO) -> None:
    handler = _LogHandler(terminal)
    handler.setFormatter(logging.Formatter("%(message)s"))
    status.update("building [12 s]")
    handler.emit(logging.makeLogRecord({"msg": "pmu-harness: RETRY", "levelno": 30}))
    assert terminal.getvalue() == f"{CLEAR}building [12 s]{CLEAR}pmu-harness: RETRY\n"


def test_the_line_is_never_wider_than_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "10")
    screen = io.StringIO()
    status.TerminalLine(screen).update("0123456789abcdef")
    assert screen.getvalue() == f"{CLEAR}012345678"  # a wrapped line could not be redrawn
