"""Argument types shared by the command line and the avocado options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def whole_number(minimum: int, unit: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum`` (``unit`` for messages)."""
    what = f" {unit}" if unit else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number{what}, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}{what}")
        return value

    return parse


def add_source_kernel_arguments(parser: Any) -> None:
    """``--tree`` and ``--series``: change a source kernel profile for one command."""
    parser.add_argument("--tree", type=Path, metavar="DIR",
                        help="build source kernel profiles from this kernel checkout instead "
                             "of their Debian source package")
    parser.add_argument("--series", type=Path, action="append", metavar="PATH",
                        help="apply this series (an mbox from `b4 am`, or a directory of "
                             "numbered patches) after the source profile's own; repeatable")
