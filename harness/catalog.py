"""The catalog of what ``configs/`` holds: every kind of profile, found by name.

Each kind (kernel profiles, machine profiles, suites) is a directory of ``<name>.yaml``
files; the events table and the kernel rules are one file each. A name given by the user
or read from a file is looked up here and only here, so a name is never a path (``--suite
../../x`` reads nothing) and every unknown name gets the same message: what was asked for,
the closest known names, and the whole list.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.paths import CONFIGS_DIR
from harness.printable import printable

EVENTS_FILE = CONFIGS_DIR / "events.yaml"
KERNEL_RULES_FILE = CONFIGS_DIR / "kernel-rules.yaml"
# A profile name is a file stem under configs/<kind>/: never a path.
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown <kind> 'x'; did you mean 'y'? (known: a, b, c)``: the one message for a
    name that is not in its registry."""
    names = sorted(set(known))
    shown = printable(str(name)[:80])
    close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {shown!r}{hint} (known: {', '.join(names) or 'none'})"


@dataclass(frozen=True)
class ProfileKind:
    """One kind of profile: ``configs/<folder>/<name>.yaml``."""

    kind: str     # "kernel profile", as messages name it
    folder: str   # under configs/

    @property
    def directory(self) -> Path:
        return CONFIGS_DIR / self.folder

    def names(self, directory: Path | None = None) -> list[str]:
        folder = directory or self.directory
        return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []

    def path(self, name: str, directory: Path | None = None) -> Path:
        """The file of profile ``name``; a ``UsageError`` naming the close matches if there
        is none."""
        folder = directory or self.directory
        known = self.names(folder)
        if not PROFILE_NAME.fullmatch(name) or name not in known:
            raise UsageError(unknown_name(self.kind, name, known))
        return folder / f"{name}.yaml"

    def check(self, names: Iterable[str]) -> None:
        """Every unknown name among ``names`` in one ``UsageError``."""
        known = self.names()
        problems = [unknown_name(self.kind, n, known) for n in names if n not in known]
        if problems:
            raise UsageError("; ".join(problems))


KERNELS = ProfileKind("kernel profile", "kernels")
MACHINES = ProfileKind("machine profile", "machines")
SUITES = ProfileKind("suite", "suites")
KINDS: dict[str, ProfileKind] = {k.folder: k for k in (KERNELS, MACHINES, SUITES)}
