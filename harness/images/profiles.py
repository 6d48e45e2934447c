"""Kernel profiles (``configs/kernels/<name>.yaml``) and apt source specs, as typed objects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import Located, UsageError
from harness.paths import CONFIGS_DIR

KERNELS_DIR = CONFIGS_DIR / "kernels"
KINDS = ("debian", "local", "source")
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]


@dataclass(frozen=True)
class AptSpec:
    """Where a private apt instance fetches from; its hash names its state directory."""

    sources: tuple[AptSource, ...]
    components: tuple[str, ...] = ("main",)
    keyring: str = DEFAULT_KEYRING
    default_release: str | None = None

    @property
    def name(self) -> str:
        """``<first suite>-<hash>``: readable, and distinct for distinct source sets."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{self.sources[0].suites[0]}-{digest[:10]}"

    def sources_list(self) -> str:
        lines = [
            f"deb [arch=arm64 signed-by={self.keyring}] {source.uri} {suite} "
            + " ".join(self.components)
            for source in self.sources
            for suite in source.suites
        ]
        return "\n".join(lines) + "\n"


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

    @property
    def revision(self) -> str | None:
        return self.source.revision if self.source else None


def _problem(path: Path, message: str) -> UsageError:
    return UsageError(message, (Located(path, None, message),))


def _str_list(value: Any, path: Path, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _problem(path, f"{what} must be a list of non-empty strings")
    return tuple(value)


def parse_apt_spec(raw: Any, path: Path) -> AptSpec:
    """The ``apt:`` mapping of a profile (or of the L1 userspace recipe)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise _problem(path, "apt.sources must be a non-empty list of {uri, suites}")
    sources = []
    for item in raw["sources"]:
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            raise _problem(path, "each apt source needs a uri and suites")
        sources.append(AptSource(item["uri"], _str_list(item.get("suites"), path, "suites")))
    default_release = raw.get("default_release")
    if default_release is not None and not isinstance(default_release, str):
        raise _problem(path, "apt.default_release must be a suite name")
    return AptSpec(
        sources=tuple(sources),
        components=_str_list(raw.get("components", ["main"]), path, "apt.components"),
        keyring=str(raw.get("keyring", DEFAULT_KEYRING)),
        default_release=default_release,
    )


def parse_profile(raw: Any, path: Path) -> KernelProfile:
    """Validate one profile document; every error names the file."""
    if not isinstance(raw, dict):
        raise _problem(path, "a kernel profile must be a YAML mapping")
    name, kind = raw.get("name"), raw.get("kind")
    if name != path.stem:
        raise _problem(path, f"name must match the file name ({path.stem!r}), not {name!r}")
    if kind not in KINDS:
        raise _problem(path, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    description = str(raw.get("description", ""))
    if kind == "local":
        return KernelProfile(name=name, description=description, kind=kind, path=path)
    if kind == "source":
        return KernelProfile(name=name, description=description, kind=kind, path=path,
                             source=parse_source_spec(raw, path))
    metapackage = raw.get("metapackage")
    if not isinstance(metapackage, str) or not metapackage:
        raise _problem(path, "a debian profile needs a metapackage (e.g. linux-image-arm64)")
    return KernelProfile(
        name=name, description=description, kind=kind, path=path,
        apt=parse_apt_spec(raw.get("apt"), path), metapackage=metapackage,
    )


def _optional_str(raw: dict[str, Any], key: str, path: Path) -> str | None:
    value = raw.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise _problem(path, f"{key} must be a non-empty string")
    return value


def parse_source_spec(raw: dict[str, Any], path: Path) -> SourceSpec:
    """The fields of a ``kind: source`` profile."""
    tree = raw.get("tree")
    if not isinstance(tree, dict):
        raise _problem(path, "a source profile needs tree: {package, version, apt}")
    package, version = tree.get("package"), tree.get("version")
    if not isinstance(package, str) or not package.startswith("linux-source-"):
        raise _problem(path, "tree.package must be a Debian linux-source-X package")
    if not isinstance(version, (str, int, float)) or not str(version):
        raise _problem(path, "tree.version must be the package's exact version (e.g. "
                             "5.10.223-1)")
    return SourceSpec(
        package=package, version=str(version), apt=parse_apt_spec(tree.get("apt"), path),
        series=_str_list(raw.get("series", []), path, "series"),
        fragments=_str_list(raw.get("fragments"), path, "fragments"),
        options=_str_list(raw.get("options", []), path, "options"),
        revision=_optional_str(raw, "revision", path),
    )


def profile_names(directory: Path = KERNELS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_profile(name: str, directory: Path = KERNELS_DIR) -> KernelProfile:
    """The profile called ``name``; an unknown name is the user's error and lists the known."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        raise UsageError(f"unknown kernel profile {name!r} (known: {known})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise _problem(path, f"not valid YAML: {exc}") from exc
    return parse_profile(raw, path)
