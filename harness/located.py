"""The one reader of input documents: typed values pulled out of located YAML (scenarios,
machine profiles, suites) or JSON (results, bundles), every problem collected with its
``file:line`` instead of stopping at the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Located, UsageError
from harness.yamlsource import MAX_NUMBER_CHARS, LocatedDict, LocatedList, shown

# A number written as text: decimal without a leading zero, or 0x hex. "010" is refused
# rather than guessed at: YAML reads an unquoted 010 as octal 8, the filter file as 10.
NUMBER_TEXT = re.compile(r"\s*(0[xX][0-9a-fA-F]+|0|[1-9][0-9]*)\s*")
LEADING_ZERO = re.compile(r"\s*0[0-9]+\s*")


class Invalid(Exception):
    """Internal: one value was wrong; already recorded, stop reading this value."""


BAD = object()  # an item of a list that was reported as wrong


@dataclass
class LocatedReader:
    """Reads one file's document, collecting every problem instead of stopping at the first;
    each problem says ``file:line``. A reader method raises ``Invalid`` once it has recorded a
    problem, so the caller stops reading that value; ``guarded`` carries on past it."""

    path: Path
    problems: list[Located] = field(default_factory=list)

    def fail(self, line: int | None, message: str) -> Invalid:
        self.problems.append(Located(self.path, line, message))
        return Invalid()

    # -- scalars -----------------------------------------------------------------------

    def integer(self, value: Any, line: int, what: str, lo: int, hi: int,
                *, hexadecimal: bool = True) -> int:
        if isinstance(value, str):
            value = self.number_text(value, line, what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(line, f"{what}: expected an integer, got {shown(value)}")
        if not lo <= value <= hi:
            outside = f"{value:#x} is outside {lo:#x}..{hi:#x}" if hexadecimal else (
                f"{value} is outside {lo}..{hi}")
            raise self.fail(line, f"{what}: {outside}")
        return value

    def number_text(self, text: str, line: int, what: str) -> int | str:
        """The number a string spells, or the string itself when it spells none."""
        if len(text) > MAX_NUMBER_CHARS:
            raise self.fail(line, f"{what}: a value of {len(text)} characters; a number has "
                            f"at most {MAX_NUMBER_CHARS}")
        if LEADING_ZERO.fullmatch(text):
            raise self.fail(line, f"{what}: {shown(text)} has a leading zero; write the "
                            "number without it (decimal) or as 0x... (hexadecimal)")
        if NUMBER_TEXT.fullmatch(text):
            digits = text.strip()
            return int(digits[2:], 16) if digits[:2] in ("0x", "0X") else int(digits, 10)
        return text

    def string(self, value: Any, line: int, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(line, f"{what}: expected a non-empty string, got {shown(value)}")
        return value.strip()

    def boolean(self, value: Any, line: int, what: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(line, f"{what}: expected true or false, got {shown(value)}")
        return value

    def string_list(self, value: Any, line: int, what: str) -> tuple[str, ...]:
        """Every string of the list; each bad item is reported, the rest still read."""
        items = self.sequence(value, line, what)
        read = [self.guarded(None, self.string, v, ln, what) for v, ln in items]
        return tuple(s for s in read if s is not None)

    def sequence(self, value: Any, line: int, what: str) -> list[tuple[Any, int]]:
        if not isinstance(value, LocatedList):
            raise self.fail(line, f"{what}: expected a list, got {shown(value)}")
        return list(zip(value, value.item_lines, strict=True))

    def each(self, value: Any, line: int, what: str, read: Callable[[Any, int], Any]
             ) -> list[Any]:
        """``read`` applied to every item of a list: a bad item is reported and left out,
        and the items after it are still read (so every problem shows at once)."""
        found = [self.guarded(BAD, read, v, ln) for v, ln in self.sequence(value, line, what)]
        if any(item is BAD for item in found):
            raise Invalid()
        return found

    def mapping(self, value: Any, line: int, what: str, keys: Iterable[str]) -> LocatedDict:
        if not isinstance(value, LocatedDict):
            raise self.fail(line, f"{what}: expected a mapping with keys {', '.join(keys)}")
        self.unknown_keys(value, what, keys)
        return value

    def unknown_keys(self, value: LocatedDict, what: str, keys: Iterable[str]) -> set[str]:
        """Report every key not in ``keys`` (with the closest known key, when one is
        close); return the known keys suggested, so a caller does not also report them
        missing."""
        allowed = list(keys)
        suggested: set[str] = set()
        for key, key_line in value.key_lines.items():
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                suggested.update(close)
                self.fail(key_line, f"{what}: unknown key {shown(key)}{hint} (expected one "
                          f"of {', '.join(allowed)})")
        return suggested

    def guarded(self, default: Any, read: Callable[..., Any], *args: Any) -> Any:
        """Run one reader; on a recorded problem keep going with ``default``."""
        try:
            return read(*args)
        except Invalid:
            return default


def file_problem(path: Path, message: str) -> UsageError:
    """A usage error about a whole file (for readers of plain YAML mappings)."""
    return UsageError(message, (Located(path, None, message),))


def string_list_of(value: Any, path: Path, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise file_problem(path, f"{what} must be a list of non-empty strings")
    return tuple(value)
