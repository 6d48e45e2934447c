"""Argument types shared by the command line and the avocado options."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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
