"""Kconfig fragments (``configs/kconfig/``) and the check that every wanted symbol survived.

``olddefconfig`` silently drops a symbol whose dependencies are not met (facts.md §5); a
kernel built without, say, ``CONFIG_KVM`` would "pass" nothing and fail everything. So every
``CONFIG_X=v`` and ``# CONFIG_X is not set`` of the fragments is checked against the final
``.config``, and a miss names the symbol and the fragment line that asked for it.

One fragment serves every tree from 5.10 on: symbols come and go between releases
(``CONFIG_ARM64_VHE`` went in 5.12, ``CONFIG_ARM_PMUV3`` came in 6.4), so a line
``# when: >= 6.4`` (or ``< 5.12``, or both: ``>= 5.12, < 6.4``) makes the symbol lines
after it, up to the next blank line, apply only to trees of those versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.catalog import unknown_name
from harness.errors import Located, UsageError
from harness.kernelrules import KernelVersion
from harness.paths import CONFIGS_DIR

KCONFIG_DIR = CONFIGS_DIR / "kconfig"
OPTIONS_DIR = KCONFIG_DIR / "options"
FRAGMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SET = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
WHEN = re.compile(r"^#\s*when:\s*(?P<bounds>.*)$")
BOUND = re.compile(r"^(?P<op>>=|<)\s*(?P<version>\d+\.\d+(?:\.\d+)?)$")
MAX_FRAGMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class Versions:
    """The trees a fragment line is for: ``at_least <= version < below`` (either open)."""

    at_least: KernelVersion | None = None
    below: KernelVersion | None = None

    def holds(self, version: KernelVersion) -> bool:
        return ((self.at_least is None or version >= self.at_least)
                and (self.below is None or version < self.below))

    def describe(self) -> str:
        parts = ([f">= {self.at_least}"] if self.at_least else []) + \
            ([f"< {self.below}"] if self.below else [])
        return ", ".join(parts) or "every version"


EVERY_VERSION = Versions()


@dataclass(frozen=True)
class Wanted:
    symbol: str
    value: str          # "y", "m", "n" (not set), a number or a quoted string
    path: Path
    line: int
    versions: Versions = EVERY_VERSION


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
    versions = EVERY_VERSION
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        when = WHEN.match(line)
        if not line:
            versions = EVERY_VERSION  # a `when:` holds up to the next blank line
        elif when:
            try:
                versions = parse_versions(when["bounds"])
            except ValueError as exc:
                problems.append(Located(path, number, str(exc)))
        elif line.startswith("#") and not UNSET.match(line):
            continue
        elif item := _wanted(line, path, number, versions):
            wanted.append(item)
        else:
            problems.append(Located(path, number, "expected CONFIG_NAME=value, "
                                                  "'# CONFIG_NAME is not set' or "
                                                  "'# when: >= X.Y' / '< X.Y'"))
    if problems:
        raise UsageError(f"{path}: bad Kconfig fragment", tuple(problems))
    return Fragment(path, text, tuple(wanted))


def _wanted(line: str, path: Path, number: int, versions: Versions) -> Wanted | None:
    set_match, unset_match = SET.match(line), UNSET.match(line)
    if set_match:
        return Wanted(set_match[1], set_match[2], path, number, versions)
    if unset_match:
        return Wanted(unset_match[1], "n", path, number, versions)
    return None


def parse_versions(text: str) -> Versions:
    """``>= 6.4``, ``< 5.12`` or ``>= 5.12, < 6.4``."""
    at_least = below = None
    for part in (p.strip() for p in text.split(",")):
        bound = BOUND.match(part)
        if not bound:
            raise ValueError(f"when: expected '>= X.Y' and/or '< X.Y' (comma-separated), "
                             f"not {part!r}")
        version = KernelVersion.parse(bound["version"])
        if bound["op"] == ">=":
            at_least = version
        else:
            below = version
    return Versions(at_least, below)


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


def merged(fragments: list[Fragment], version: KernelVersion | None = None
           ) -> dict[str, Wanted]:
    """Later fragments win, as in ``merge_config.sh``; with ``version``, only the lines
    for a tree of that version."""
    result: dict[str, Wanted] = {}
    for fragment in fragments:
        for item in fragment.wanted:
            if version is None or item.versions.holds(version):
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
                f"{shown}): a dependency is missing, or this tree has no such symbol (a "
                f"'# when:' line above it says which versions a symbol is for)")))
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
