"""The recipe data in ``guest-images/l1`` and ``guest-images/l2``, read into typed objects.

The recipe's files (and the code that builds from them) are part of every cache key, so a
change to a package list, the init script or the builder rebuilds what depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.paths import GUEST_IMAGES_DIR, PROJECT_ROOT
from harness.store.aptspec import AptSpec, parse_apt_spec
from harness.store.cache import hash_paths

L1_DIR = GUEST_IMAGES_DIR / "l1"
L2_DIR = GUEST_IMAGES_DIR / "l2"
# The harness package: builder modules are named by their path in it (images/cpio).
CODE_DIR = Path(__file__).resolve().parent.parent


def data_lines(path: Path) -> list[str]:
    """Non-empty lines of a data file, ``#`` comments removed, split on whitespace."""
    words: list[str] = []
    for line in path.read_text().splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


@dataclass(frozen=True)
class UserspaceRecipe:
    apt: AptSpec
    packages: tuple[str, ...]
    trim: tuple[str, ...]
    applets: tuple[str, ...]
    keep_libraries: tuple[str, ...]


def load_userspace_recipe(directory: Path = L1_DIR) -> UserspaceRecipe:
    path = directory / "userspace.yaml"
    raw = yaml.safe_load(path.read_text())
    packages = raw.get("packages") if isinstance(raw, dict) else None
    if not isinstance(packages, list) or not packages:
        raise UsageError(f"{path}: packages must be a non-empty list")
    return UserspaceRecipe(
        apt=parse_apt_spec(raw.get("apt"), path),
        packages=tuple(str(p) for p in packages),
        trim=tuple(data_lines(directory / "trim.txt")),
        applets=tuple(data_lines(directory / "busybox-applets.txt")),
        keep_libraries=tuple(data_lines(directory / "keep-libraries.txt")),
    )


def wanted_modules(directory: Path = L1_DIR) -> tuple[list[str], list[str]]:
    """(required, optional) module names for L1's init."""
    words = data_lines(directory / "modules.txt")
    return ([w for w in words if not w.startswith("?")],
            [w.lstrip("?") for w in words if w.startswith("?")])


def recipe_hashes(*paths: Path) -> dict[str, str]:
    """Content hashes of recipe files and directories, keyed by path in the project."""
    return hash_paths(list(paths), PROJECT_ROOT)


def code_hashes(*modules: str) -> dict[str, str]:
    """Hashes of the builder modules themselves (``images/cpio``, ``store/debs``...)."""
    return hash_paths([CODE_DIR / f"{name}.py" for name in modules], PROJECT_ROOT)
