"""A private apt instance per source set: own config, lists, archives; never the host's.

Nothing here touches ``/etc/apt`` or the host's dpkg database: apt reads only the config
file written below (``APT_CONFIG``), whose ``Dir::*`` settings point at a directory in the
cache. Signatures are checked against Debian's archive keyring (``signed-by``) and only
arm64 indexes are fetched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.paths import cache_dir
from harness.store.aptspec import AptSpec
from harness.store.locking import file_lock
from harness.store.run import run

log = logging.getLogger(__name__)

UPDATE_TIMEOUT = 600
QUERY_TIMEOUT = 120
DEFAULT_MAX_AGE = 24 * 3600  # seconds before the package lists are refreshed
MEMO_FORMAT = 2  # bump when the shape of a memoised answer changes


@dataclass(frozen=True)
class DebRef:
    """One exact .deb: what apt resolved, with the size and hash from the signed index."""

    package: str
    version: str
    arch: str
    filename: str
    size: int
    sha256: str
    uri: str


URI_LINE = re.compile(r"^'(?P<uri>[^']+)' (?P<file>\S+) (?P<size>\d+) ?(?P<hash>\S*)")


def parse_print_uris(text: str) -> list[DebRef]:
    """Parse ``apt-get --print-uris`` output (``'uri' file size Hash:hex`` lines).

    apt prints one hash of its choosing there (often MD5Sum), so ``sha256`` is left empty
    when it is not SHA256; :meth:`PrivateApt.with_sha256` fills it from the index."""
    refs = []
    for line in text.splitlines():
        match = URI_LINE.match(line)
        if not match:
            continue
        name, version, arch = match["file"].removesuffix(".deb").split("_")
        refs.append(DebRef(
            package=name, version=version.replace("%3a", ":"), arch=arch,
            filename=match["file"], size=int(match["size"]),
            sha256=match["hash"].removeprefix("SHA256:") if match["hash"].startswith("SHA256:")
            else "",
            uri=match["uri"],
        ))
    return refs


def parse_control_field(record: str, field: str) -> str | None:
    """The value of ``field`` in one deb822 record (first match, single line)."""
    match = re.search(rf"^{re.escape(field)}: (.*)$", record, re.MULTILINE)
    return match[1].strip() if match else None


def image_dependency(depends: str, prefix: str = "linux-image-") -> str:
    """The exact kernel image package a metapackage depends on (``linux-image-6.1.0-41-arm64``)."""
    for alternative in re.split(r"[,|]", depends):
        name = alternative.strip().split(" ")[0]
        if name.startswith(prefix):
            return name
    raise ValueError(f"no {prefix}* dependency in {depends!r}")


def same_version_parts(depends: str, version: str, abi: str) -> list[str]:
    """Packages a split kernel package pins to its own version (7.x: ``linux-base-<abi>``,
    ``linux-binary-<abi>``, ``linux-modules-<abi>``); empty for single-package kernels."""
    parts = []
    for item in depends.split(","):
        match = re.fullmatch(r"\s*(\S+) \(= (\S+)\)\s*", item)
        if match and match[2] == version and abi in match[1]:
            parts.append(match[1])
    return parts


def apt_config(root: Path, spec: AptSpec) -> str:
    """The whole apt configuration: every directory private, arm64 only."""
    lines = [
        'Dir "/";',
        f'Dir::State "{root}/state";',
        f'Dir::State::status "{root}/state/status";',
        f'Dir::Cache "{root}/cache";',
        f'Dir::Cache::Archives "{root}/archives";',
        f'Dir::Log "{root}/log";',
        f'Dir::Etc "{root}/etc";',
        f'Dir::Etc::Main "{root}/etc/apt.conf";',
        f'Dir::Etc::Parts "{root}/etc/apt.conf.d";',
        f'Dir::Etc::SourceList "{root}/etc/sources.list";',
        f'Dir::Etc::SourceParts "{root}/etc/sources.list.d";',
        f'Dir::Etc::Preferences "{root}/etc/preferences";',
        f'Dir::Etc::PreferencesParts "{root}/etc/preferences.d";',
        f'Dir::Etc::Trusted "{root}/etc/trusted.gpg";',
        f'Dir::Etc::TrustedParts "{root}/etc/trusted.gpg.d";',
        'APT::Architecture "arm64";',
        'APT::Architectures { "arm64"; };',
        'APT::Install-Recommends "false";',
        'APT::Install-Suggests "false";',
        'APT::Sandbox::User "root";',
        'Acquire::Languages "none";',
        'Acquire::Retries "3";',
        'Debug::NoLocking "true";',
    ]
    if spec.default_release:
        lines.append(f'APT::Default-Release "{spec.default_release}";')
    return "\n".join(lines) + "\n"


class PrivateApt:
    """apt-get / apt-cache against ``<cache>/apt/<spec.name>``."""

    def __init__(self, spec: AptSpec, root: Path | None = None) -> None:
        self.spec = spec
        self.root = root or cache_dir() / "apt" / spec.name
        self.archives = self.root / "archives"
        self._config = self.root / "apt-private.conf"
        self._stamp = self.root / "updated"
        self._memo = self.root / "resolved.json"

    def _layout(self) -> None:
        for sub in ("state/lists/partial", "cache", "archives/partial", "log",
                    "etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d",
                    "etc/trusted.gpg.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "state/status").touch()
        _write_if_changed(self.root / "etc/sources.list", self.spec.sources_list())
        _write_if_changed(self._config, apt_config(self.root, self.spec))

    def env(self) -> dict[str, str]:
        return {**os.environ, "APT_CONFIG": str(self._config), "LC_ALL": "C.UTF-8"}

    def lock(self) -> Any:
        self.root.mkdir(parents=True, exist_ok=True)
        return file_lock(self.root / "lock")

    def ensure_lists(self, max_age: float | None = None) -> None:
        """``apt-get update`` unless the lists are younger than ``max_age`` seconds."""
        self._layout()
        age_limit = DEFAULT_MAX_AGE if max_age is None else max_age
        env_age = os.environ.get("PMU_HARNESS_APT_MAX_AGE")
        if env_age and max_age is None:
            age_limit = float(env_age)
        if self._stamp.exists() and time.time() - self._stamp.stat().st_mtime < age_limit:
            return
        try:
            run(["apt-get", "update", "-q"], timeout=UPDATE_TIMEOUT, env=self.env(),
                what=f"apt-get update for {self.spec.name} ({self.spec.sources[0].uri})")
        except InfraError as exc:
            if not self._stamp.exists() or max_age == 0:
                raise
            # Offline with usable lists: keep resolving against them (and say so).
            log.warning("pmu-harness: warning: keeping old package lists: %s", exc)
            return
        self._stamp.write_text(f"{time.time()}\n")
        self._memo.unlink(missing_ok=True)

    def _memoised(self, key: str, compute: Callable[[], Any]) -> Any:
        """Answers depend only on the lists: keep them until the next update."""
        memo: dict[str, Any] = {}
        try:
            memo = json.loads(self._memo.read_text())
        except (OSError, ValueError):
            memo = {}
        if not isinstance(memo, dict) or memo.get("format") != MEMO_FORMAT:
            memo = {"format": MEMO_FORMAT}
        if key not in memo:
            memo[key] = compute()
            tmp = self._memo.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(memo, indent=1, sort_keys=True))
            tmp.replace(self._memo)
        return memo[key]

    def _show(self, package: str) -> str:
        return run(["apt-cache", "show", "--no-all-versions", package], timeout=QUERY_TIMEOUT,
                   env=self.env(), what=f"apt-cache show {package} ({self.spec.name})")

    def resolve_metapackage(self, metapackage: str) -> tuple[str, str, list[str]]:
        """``linux-image-arm64`` -> (``linux-image-6.1.0-41-arm64``, ``6.1.158-1``, parts):
        ``parts`` are the packages holding the kernel's files (the image package itself, or
        the pieces a split 7.x image package depends on at the same version)."""
        def compute() -> list[Any]:
            depends = parse_control_field(self._show(metapackage), "Depends") or ""
            package = image_dependency(depends)
            record = self._show(package)
            version = parse_control_field(record, "Version")
            if version is None:
                raise ValueError(f"apt-cache show {package} printed no Version")
            abi = package.removeprefix("linux-image-")
            parts = same_version_parts(parse_control_field(record, "Depends") or "", version,
                                       abi)
            return [package, version, [package, *parts]]
        package, version, parts = self._memoised(f"kernel:{metapackage}", compute)
        return package, version, parts

    def _empty(self) -> Path:
        empty = self.root / "empty-archives"
        (empty / "partial").mkdir(parents=True, exist_ok=True)
        return empty

    def closure(self, packages: Sequence[str]) -> list[DebRef]:
        """Every .deb that installing ``packages`` on an empty system needs (no recommends)."""
        def compute() -> list[dict[str, Any]]:
            empty = self._empty()
            text = run(
                ["apt-get", "install", "-y", "-qq", "--print-uris",
                 "-o", f"Dir::Cache::Archives={empty}", *packages],
                timeout=QUERY_TIMEOUT, env=self.env(),
                what=f"resolving {' '.join(packages)} in {self.spec.name}",
            )
            refs = parse_print_uris(text)
            if not refs:
                raise ValueError(f"apt resolved no packages for {' '.join(packages)}")
            return [asdict(ref) for ref in self.with_sha256(refs)]
        return [DebRef(**item) for item in self._memoised("closure:" + ",".join(packages), compute)]

    def exact(self, packages: Sequence[str], version: str) -> list[DebRef]:
        """The .debs ``package=version`` for each package (without other dependencies)."""
        wanted = [f"{package}={version}" for package in packages]

        def compute() -> list[dict[str, Any]]:
            # In an empty directory: apt-get download omits files already present.
            text = run(["apt-get", "download", "-qq", "--print-uris", *wanted],
                       timeout=QUERY_TIMEOUT, env=self.env(), cwd=self._empty(),
                       what=f"resolving {' '.join(wanted)} in {self.spec.name}")
            refs = parse_print_uris(text)
            if len(refs) != len(wanted):
                raise ValueError(f"apt printed {len(refs)} URIs for {' '.join(wanted)}")
            return [asdict(ref) for ref in self.with_sha256(refs)]
        return [DebRef(**item) for item in self._memoised("exact:" + ",".join(wanted), compute)]


    def with_sha256(self, refs: list[DebRef]) -> list[DebRef]:
        """``refs`` with ``sha256`` from the (signature-checked) Packages index."""
        text = run(["apt-cache", "show", *(f"{r.package}={r.version}" for r in refs)],
                   timeout=QUERY_TIMEOUT, env=self.env(),
                   what=f"reading package hashes ({self.spec.name})")
        hashes = {}
        for record in text.split("\n\n"):
            name = parse_control_field(record, "Package")
            version = parse_control_field(record, "Version")
            sha = parse_control_field(record, "SHA256")
            if name and version and sha:
                hashes[(name, version)] = sha
        missing = [r.package for r in refs if (r.package, r.version) not in hashes]
        if missing:
            raise ValueError(f"no SHA256 in the index for {', '.join(missing)}")
        return [replace(r, sha256=hashes[(r.package, r.version)]) for r in refs]


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
