"""Reproducer bundles: everything needed to re-run one failed or inconclusive case exactly.

A bundle is a directory: ``bundle.json`` (the case, its outcome, the resolved kernel with the
hashes of the images it ran on, the run options, the QEMU and L2 command lines), copies of
the scenario, machine profile and kernel profile, the filter files, and the logs. It holds
no images (hundreds of MB): ``pmu-harness rerun`` finds them in the image cache by key, or
rebuilds them and refuses to call it a reproduction if the kernel's hash differs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import Located, UsageError
from harness.images import ImageSet
from harness.images.profiles import KERNELS_DIR
from harness.inputfile import read_json
from harness.l2.settings import L2_KERNEL_SMALL, L2_KERNELS, L2Settings
from harness.modes import LINUX_MODE
from harness.paths import PROJECT_ROOT
from harness.plan import Case
from harness.printable import printable
from harness.results import CaseResult

FORMAT = 1
BUNDLE_FILE = "bundle.json"
SCENARIO_FILE = "scenario.yaml"
MACHINES_SUBDIR = "machines"
KERNEL_PROFILE_FILE = "kernel-profile.yaml"
# A source kernel's inputs, copied into the bundle (kernel/series/<name>, kernel/kconfig/)
BUILD_DIR = "kernel"
BUILD_SERIES_DIR = "series"
BUILD_KCONFIG_DIR = "kconfig"
COPIED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A console of a long group can be large; the tail is what explains a failure.
CONSOLE_TAIL_BYTES = 256 * 1024


@dataclass(frozen=True)
class BundleSource:
    """What the session knows about the L1 a case ran in."""

    images: ImageSet
    machines_dir: Path
    machine: str
    kvm_mode: str | None
    local_image: Path | None
    local_modules: Path | None
    l1_dir: Path
    l2: L2Settings = field(default_factory=L2Settings)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _read_lines(paths: list[Path]) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace").strip() for p in sorted(paths)}


def _kernel(source: BundleSource) -> dict[str, Any]:
    images = source.images
    return {
        "profile": images.kernel_profile,
        "package": images.kernel_package,
        "version": images.kernel_package_version,
        "release": images.kernel_release,
        "cache_key": images.cache_key,
        "image_sha256": images.kernel_sha256,
        "l1_initrd_sha256": images.sha256(images.l1_initrd),
        "local_image": str(source.local_image) if source.local_image else None,
        "local_modules": str(source.local_modules) if source.local_modules else None,
        **({"revision": images.kernel_revision} if images.kernel_revision else {}),
        **({"build": images.build} if images.build is not None else {}),
    }


def _copy_build_inputs(build: dict[str, Any], out: Path) -> None:
    """A source kernel's series and Kconfig fragments, so `rerun` can rebuild the very
    kernel from the bundle alone (the key and the Image's SHA-256 say whether it did)."""
    for series in build.get("series", []):
        origin = Path(series["source"])
        target = out / BUILD_SERIES_DIR / origin.name
        if origin.is_dir():
            shutil.copytree(origin, target)
        elif origin.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target)
    for index, fragment in enumerate(build.get("fragments", [])):
        origin = Path(fragment["path"])
        if origin.is_file():
            target = out / BUILD_KCONFIG_DIR / f"{index:02d}-{origin.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target)


def _options(case: Case, source: BundleSource) -> dict[str, Any]:
    """The run options a rerun must repeat: linux mode's L2 is one of them (the small kernel
    or Debian's, booted or restored, can change what the guest shows)."""
    options: dict[str, Any] = {"kvm_mode": source.kvm_mode}
    if case.mode == LINUX_MODE:
        options["l2"] = {"kernel": source.l2.kernel, "restore": source.l2.restore}
    return options


def bundle_l2(data: dict[str, Any]) -> L2Settings:
    """The L2 a bundle's case ran with (a bundle from before they were recorded: today's
    default)."""
    l2 = data.get("options", {}).get("l2")
    if not isinstance(l2, dict):
        return L2Settings()
    return L2Settings(kernel=l2["kernel"], restore=l2["restore"])


def _l2_problems(options: dict[str, Any]) -> list[str]:
    if "l2" not in options:
        return []
    l2 = options["l2"]
    if not isinstance(l2, dict) or set(l2) != {"kernel", "restore"} \
            or l2["kernel"] not in L2_KERNELS or not isinstance(l2["restore"], bool):
        return [f"options.l2 must be {{kernel: {' or '.join(L2_KERNELS)}, restore: true or "
                f"false}}, not {printable(repr(l2)[:80])}"]
    conflict = L2Settings(kernel=l2["kernel"], restore=l2["restore"]).conflict()
    return [] if conflict is None else \
        [f"options.l2: restore needs kernel {L2_KERNEL_SMALL}: {conflict}"]


def describe(case: Case, result: CaseResult, source: BundleSource) -> dict[str, Any]:
    """The bundle's JSON: the case, how it ended, and exactly what it ran on."""
    case_dir = Path(result.artefacts) if result.artefacts else source.l1_dir
    return {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "harness": {"version": __version__, "git_commit": _git_commit()},
        "case": {"name": case.name, "scenario": case.scenario.id, "machine": case.machine,
                 "kernel": case.kernel, "mode": case.mode},
        "result": result.to_json(),
        "kernel": _kernel(source),
        "options": _options(case, source),
        "commands": {"l1_qemu": _read_lines(list(source.l1_dir.glob("command-*.txt"))),
                     "l2": _read_lines(list(case_dir.glob("*.l2-command.txt")))},
    }


def _copy_logs(result: CaseResult, source: BundleSource, logs: Path) -> None:
    if result.artefacts and Path(result.artefacts).is_dir():
        shutil.copytree(result.artefacts, logs / "case", dirs_exist_ok=True)
    l1_logs = logs / "l1"
    l1_logs.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.l1_dir.glob("*")):
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            size = path.stat().st_size
            handle.seek(max(0, size - CONSOLE_TAIL_BYTES))
            (l1_logs / path.name).write_bytes(handle.read())


def write_bundle(case: Case, result: CaseResult, source: BundleSource, bundles_dir: Path
                 ) -> Path:
    """Write the bundle for ``result`` (atomically: a half-written bundle never shows, and
    on a failure, a full disk say, none is left behind)."""
    final = bundles_dir / _safe(case.name)
    tmp = bundles_dir / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _fill_bundle(case, result, source, tmp, final)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _fill_bundle(case: Case, result: CaseResult, source: BundleSource, tmp: Path,
                 final: Path) -> None:
    tmp.mkdir(parents=True)
    shutil.copyfile(case.scenario.path, tmp / SCENARIO_FILE)
    machines = tmp / MACHINES_SUBDIR
    machines.mkdir()
    shutil.copyfile(source.machines_dir / f"{source.machine}.yaml",
                    machines / f"{source.machine}.yaml")
    kernel_profile = KERNELS_DIR / f"{source.images.kernel_profile}.yaml"
    if kernel_profile.is_file():
        shutil.copyfile(kernel_profile, tmp / KERNEL_PROFILE_FILE)
    if source.images.build is not None:
        _copy_build_inputs(source.images.build, tmp / BUILD_DIR)
    _copy_logs(result, source, tmp / "logs")
    data = describe(case, result, source)
    data["rerun"] = f"pmu-harness rerun {final}"
    (tmp / BUNDLE_FILE).write_text(json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class Bundle:
    """A bundle read back for ``rerun``."""

    directory: Path
    data: dict[str, Any]

    @property
    def scenario_file(self) -> Path:
        return self.directory / SCENARIO_FILE

    @property
    def machines_dir(self) -> Path:
        return self.directory / MACHINES_SUBDIR

    @property
    def case(self) -> dict[str, str]:
        return dict(self.data["case"])

    @property
    def kernel(self) -> dict[str, Any]:
        return dict(self.data["kernel"])

    def build_inputs(self) -> tuple[tuple[Path, ...], tuple[Path, ...]] | None:
        """A source kernel's series and fragments as copied into the bundle, in build
        order; None when the kernel was not built from source or the copies are missing."""
        build = self.kernel.get("build")
        if not isinstance(build, dict):
            return None
        root = self.directory / BUILD_DIR
        # Only a plain name is taken from bundle.json: the copy must be in the bundle.
        names = [Path(str(s.get("source", ""))).name for s in build.get("series", [])
                 if isinstance(s, dict)]
        if not all(COPIED_NAME.fullmatch(name) for name in names):
            return None
        series = tuple(root / BUILD_SERIES_DIR / name for name in names)
        fragments = tuple(sorted((root / BUILD_KCONFIG_DIR).glob("*")))
        if not fragments or not all(p.exists() for p in series):
            return None
        return series, fragments

    @property
    def outcome(self) -> str:
        return str(self.data["result"]["result"])

    @property
    def failed_checks(self) -> list[str]:
        return sorted(c["name"] for c in self.data["result"]["checks"]
                      if c["result"] != "pass")


_REQUIRED = {"case": ("name", "scenario", "machine", "kernel", "mode"),
             "kernel": ("profile", "cache_key", "image_sha256"),
             "result": ("result", "checks")}


# A bundle is someone else's file (a CI artefact): what `rerun` takes from bundle.json
# becomes paths (machines/<machine>.yaml, <kernel>-<machine>/), profile look-ups and image
# cache keys. Each such string must have the form the harness itself writes.
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{16,128}")
_BUNDLE_FIELDS: dict[tuple[str, str], re.Pattern[str]] = {
    ("case", "scenario"): re.compile(r"[a-z0-9][a-z0-9-]{0,63}"),
    ("case", "machine"): PROFILE_NAME,
    ("case", "kernel"): PROFILE_NAME,
    ("case", "mode"): re.compile(r"probe|linux"),
    ("kernel", "profile"): PROFILE_NAME,
    ("kernel", "cache_key"): re.compile(r"[A-Za-z0-9._-]{1,128}"),
    ("kernel", "image_sha256"): _HEX_DIGEST,
    ("result", "result"): re.compile(r"pass|fail|inconclusive|error|skip"),
}
# bundle.json is a page of JSON; the logs live beside it, not in it.
MAX_BUNDLE_BYTES = 16 << 20


def check_bundle_fields(data: dict[str, Any], file: Path, directory: Path) -> None:
    """Refuse a bundle.json whose names could leave the bundle or the results directory,
    name a profile that is not one, or break `rerun` later: every problem at once."""
    problems = []
    for (section, key), form in _BUNDLE_FIELDS.items():
        value = data[section][key]
        if not isinstance(value, str) or not form.fullmatch(value):
            problems.append(f"{section}.{key} {printable(repr(value)[:80])} is not a valid "
                            f"{key} name (expected {form.pattern})")
    machine = data["case"]["machine"]
    if not problems and not (directory / MACHINES_SUBDIR / f"{machine}.yaml").is_file():
        problems.append(f"no machine profile {MACHINES_SUBDIR}/{machine}.yaml in the bundle")
    checks = data["result"]["checks"]
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str)
            and isinstance(c.get("result"), str) for c in checks):
        problems.append("result.checks must be a list of {name, result} objects")
    options = data.get("options", {})
    if not isinstance(options, dict) or options.get("kvm_mode") not in (None, "vhe", "nvhe"):
        problems.append("options.kvm_mode must be vhe, nvhe or null")
    else:
        problems.extend(_l2_problems(options))
    if problems:
        located = tuple(Located(file, None, p) for p in problems)
        raise UsageError(f"{file}: not a bundle rerun can trust", located)


def read_bundle(path: Path) -> Bundle:
    """Load and check a bundle directory (or its bundle.json); problems are usage errors."""
    directory = path.parent if path.name == BUNDLE_FILE else path
    file = directory / BUNDLE_FILE
    if not file.exists() and not file.is_symlink():
        raise UsageError(f"{directory}: not a bundle (no {BUNDLE_FILE})")
    data = read_json(file, MAX_BUNDLE_BYTES, "bundle.json")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{file}: expected a bundle of format {FORMAT}")
    for section, keys in _REQUIRED.items():
        fields = data.get(section)
        missing = [k for k in keys if not isinstance(fields, dict) or k not in fields]
        if missing:
            raise UsageError(f"{file}: {section} lacks {', '.join(missing)}")
    check_bundle_fields(data, file, directory)
    if not (directory / SCENARIO_FILE).is_file():
        raise UsageError(f"{directory}: the bundle lacks {SCENARIO_FILE}")
    return Bundle(directory, data)
