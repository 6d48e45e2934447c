"""Kconfig fragments (``configs/kconfig/``) and the check that every wanted symbol survived.

``olddefconfig`` silently drops a symbol whose dependencies are not met (facts.md §5); a
kernel built without, say, ``CONFIG_KVM`` would "pass" nothing and fail everything. So every
``CONFIG_X=v`` and ``# CONFIG_X is not set`` of the fragments is checked against the final
``.config``, and a miss names the symbol and the fragment line that asked for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.catalog import unknown_name
from harness.errors import Located, UsageError
from harness.paths import CONFIGS_DIR

KCONFIG_DIR = CONFIGS_DIR / "kconfig"
OPTIONS_DIR = KCONFIG_DIR / "options"
FRAGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
MAX_FRAGMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class Wanted:
    symbol: str
    value: str          # "y", "m", "n" (not set), a number or a quoted string
    path: Path
    line: int


@dataclass(frozen=True)
class Fragment:
    path: Path
    text: str
    wanted: tuple[Wanted, ...]


def fragment_path(name: str, *, option: bool = False) -> Path:
    """A fragment named in a profile: ``configs/kconfig/<name>`` (options: ``options/``)."""
    directory = OPTIONS_DIR if option else KCONFIG_DIR
    suffix = "" if name.endswith(".config") else ".config"
    if not FRAGMENT_NAME.fullmatch(name) or not (directory / f"{name}{suffix}").is_file():
        what = "build option" if option else "Kconfig fragment"
        raise UsageError(unknown_name(what, name, [p.stem for p in directory.glob("*.config")]))
    return directory / f"{name}{suffix}"


def load_fragment(path: Path) -> Fragment:
    if not path.is_file() or path.stat().st_size > MAX_FRAGMENT_BYTES:
        raise UsageError(f"{path}: not a regular file of at most {MAX_FRAGMENT_BYTES} bytes")
    text = path.read_text(errors="replace")
    wanted, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not UNSET.match(line)):
            continue
        set_match, unset_match = SET.match(line), UNSET.match(line)
        if set_match:
            wanted.append(Wanted(set_match[1], set_match[2], path, number))
        elif unset_match:
            wanted.append(Wanted(unset_match[1], "n", path, number))
        else:
            problems.append(Located(path, number, "expected CONFIG_NAME=value or "
                                                  "'# CONFIG_NAME is not set'"))
    if problems:
        raise UsageError(f"{path}: bad Kconfig fragment", tuple(problems))
    return Fragment(path, text, tuple(wanted))


def read_config(text: str) -> dict[str, str]:
    """``.config`` as ``symbol -> value``; unset symbols are ``n``."""
    values = {}
    for line in text.splitlines():
        set_match, unset_match = SET.match(line), UNSET.match(line)
        if set_match:
            values[set_match[1]] = set_match[2]
        elif unset_match:
            values[unset_match[1]] = "n"
    return values


def merged(fragments: list[Fragment]) -> dict[str, Wanted]:
    """Later fragments win, as in ``merge_config.sh``."""
    result: dict[str, Wanted] = {}
    for fragment in fragments:
        for item in fragment.wanted:
            result[item.symbol] = item
    return result


def unmet(wanted: dict[str, Wanted], config_text: str) -> list[Located]:
    """Every wanted symbol whose final value differs, as a located problem."""
    final = read_config(config_text)
    problems = []
    for symbol, item in sorted(wanted.items(), key=lambda kv: (str(kv[1].path), kv[1].line)):
        got = final.get(symbol, "n")
        if got != item.value:
            shown = "not set" if got == "n" else f"={got}"
            problems.append(Located(item.path, item.line, (
                f"{symbol}={item.value} was dropped by Kconfig (the .config has {symbol} "
                f"{shown}): a dependency is missing, or this tree has no such symbol")))
    return problems


def allconfig_text(wanted: dict[str, Wanted]) -> str:
    """The merged fragment as one KCONFIG_ALLCONFIG file."""
    lines = []
    for item in wanted.values():
        if item.value == "n":
            lines.append(f"# {item.symbol} is not set")
        else:
            lines.append(f"{item.symbol}={item.value}")
    return "\n".join(lines) + "\n"
