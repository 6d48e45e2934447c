"""Kernel profiles (``configs/kernels/<name>.yaml``) as typed objects.

What a profile of each kind holds, and how it is read, planned and unpacked, is that kind's
own module under ``harness.images.kinds``; this module holds the types they share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalog import KERNELS
from harness.located import file_problem
from harness.store.aptspec import AptSpec

KERNELS_DIR = KERNELS.directory


@dataclass(frozen=True)
class SourceSpec:
    """A kernel built here: a Debian source package at a pinned version (or the user's
    ``--tree``), series applied in order, Kconfig fragments and build options (names, checked
    when the build is planned), and which revision of the filter series it carries."""

    package: str
    version: str
    apt: AptSpec
    series: tuple[str, ...]
    fragments: tuple[str, ...]
    options: tuple[str, ...] = ()
    revision: str | None = None


@dataclass(frozen=True)
class SourceOverrides:
    """Command-line changes to a source profile: the user's checkout instead of the
    profile's tree, and series applied after the profile's own."""

    tree: Path | None = None
    series: tuple[Path, ...] = ()
    # `rerun` rebuilds a bundle's kernel from the bundle's copies: these replace the
    # profile's series and fragments (in build order) when given.
    series_only: tuple[Path, ...] | None = None
    fragments_only: tuple[Path, ...] | None = None
    # `--revision NAME`: the revision of the filter series the built kernel carries (what
    # the oracle predicts), instead of the profile's `revision:`.
    revision: str | None = None
    # Build options (configs/kconfig/options/) added to the profile's own: `review --debug`.
    options: tuple[str, ...] = ()


NO_OVERRIDES = SourceOverrides()


@dataclass(frozen=True)
class KernelProfile:
    name: str
    description: str
    kind: str
    path: Path
    apt: AptSpec | None = None
    metapackage: str | None = None
    source: SourceSpec | None = None
    # Words added to L1's kernel command line when it boots this kernel (configs/kernels'
    # `l1_command_line:`); part of the QEMU command line, so of the snapshot key.
    l1_command_line: tuple[str, ...] = ()

    @property
    def revision(self) -> str | None:
        return self.source.revision if self.source else None


# A kernel command-line word from a profile: `name` or `name=value`, nothing a shell or
# QEMU's -append could read as more than one word.
_COMMAND_LINE_WORD = re.compile(r"[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:/+-]+)?")


def command_line_words(raw: dict[str, Any], path: Path) -> tuple[str, ...]:
    """A profile's ``l1_command_line:`` (absent: none), each word checked."""
    value = raw.get("l1_command_line", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise file_problem(path, "l1_command_line must be a list of kernel parameters "
                                 "(e.g. [arm64.nolva])")
    for word in value:
        if not _COMMAND_LINE_WORD.fullmatch(word):
            raise file_problem(path, f"l1_command_line: {word!r} is not one kernel parameter "
                                     "(name or name=value: letters, digits, _ . - and in the "
                                     "value , : / +)")
    return tuple(value)


def optional_str(raw: dict[str, Any], key: str, path: Path) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise file_problem(path, f"{key} must be a non-empty string")
    return value
