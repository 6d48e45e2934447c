"""Build an arm64 kernel Image from a tree + series + Kconfig fragments, cached by content.

The *build key* hashes everything the Image depends on: the tree's identity, every patch's
SHA-256, the fragments' and options' text, the compiler's version and this recipe's format.
An unchanged profile is a cache hit (no make at all); a changed one is built in the
workspace of its configuration (tree + fragments + options + compiler), where only the files
the new series changes are replaced, so ``make`` rebuilds incrementally (and ccache, under
the cache directory, makes a fresh workspace cheap too).

Whose fault: a series that does not apply or a fragment symbol Kconfig drops is the user's
(``UsageError``, exit 2); a compile failure is an infrastructure error (exit 125: ``git bisect
run`` skips the commit) with the log's tail and path. A result is cached only when complete.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.kbuild import kconfig
from harness.kbuild.make import Toolchain, make
from harness.kbuild.progress import Progress
from harness.kbuild.release import image_release
from harness.kbuild.series import Series, apply_series, load_series
from harness.kbuild.tree import SourceTree, TreeSpec, open_tree
from harness.kbuild.workspace import Workspace
from harness.kernelrules import KernelVersion
from harness.store import cache
from harness.store.locking import file_lock

FORMAT = 1  # bump when the recipe below changes what an Image is built from
RESULTS = "kernels"
WORKSPACES = "kbuild"
IMAGE = "Image"
CONFIG = "config"
LOG = "build.log"
MODULES = "modules"
TARGET = "Image"
CONFIGURE_TIMEOUT = 600.0
BUILD_TIMEOUT = 5400.0


@dataclass(frozen=True)
class BuildSpec:
    """What a source kernel profile asks for (paths already resolved and checked)."""

    profile: str
    tree: TreeSpec
    series: tuple[Path, ...] = ()
    fragments: tuple[Path, ...] = ()
    options: tuple[Path, ...] = ()
    # Modules kept beside the Image, by path in the build tree (``drivers/perf/x.ko``);
    # empty: only the Image is built (every kernel under test is built without modules).
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildInputs:
    """A spec read into memory: what the key is computed from, and what is built."""

    spec: BuildSpec
    tree: SourceTree
    series: tuple[Series, ...]
    fragments: tuple[kconfig.Fragment, ...]
    toolchain: Toolchain

    def config_key(self) -> str:
        return cache.digest({
            "format": FORMAT,
            "tree": self.tree.identity,
            "fragments": [f.text for f in self.fragments],
            "compiler": self.toolchain.version,
        })

    def key(self) -> str:
        wanted: dict[str, Any] = {"config": self.config_key(),
                                  "series": [s.key() for s in self.series]}
        if self.spec.modules:  # absent otherwise: the keys of Image-only builds stay as they were
            wanted["modules"] = list(self.spec.modules)
        return cache.digest(wanted)

    def record(self) -> dict[str, Any]:
        """What a result and a bundle say the kernel was built from."""
        return {
            "profile": self.spec.profile,
            "tree": {**self.tree.identity, "describe": self.tree.describe},
            "series": [{"name": s.name, "source": str(s.source),
                        "patches": [{"label": p.label, "sha256": p.sha256} for p in s.patches]}
                       for s in self.series],
            "fragments": [{"path": str(f.path), "sha256": cache.digest(f.text)}
                          for f in self.fragments],
            "compiler": self.toolchain.version,
            "build_key": self.key(),
        }


@dataclass(frozen=True)
class BuiltKernel:
    directory: Path
    image: Path
    release: str
    key: str
    manifest: dict[str, Any]
    cached: bool
    changed_files: tuple[str, ...] = field(default=())

    @property
    def modules(self) -> dict[str, Path]:
        """The kept modules: file name (``x.ko``) -> path in the result."""
        return {name: self.directory / MODULES / name
                for name in self.manifest.get("modules", [])}

    @property
    def image_sha256(self) -> str:
        return str(self.manifest["files"][IMAGE]["sha256"])


def read_inputs(spec: BuildSpec, *, progress: bool) -> BuildInputs:
    tree = open_tree(spec.tree, progress=progress)
    series = tuple(load_series(path) for path in spec.series)
    fragments = tuple(kconfig.load_fragment(p) for p in (*spec.fragments, *spec.options))
    if not fragments:
        raise UsageError(f"kernel profile {spec.profile}: no Kconfig fragment")
    return BuildInputs(spec, tree, series, fragments, Toolchain.detect())


def result_dir(inputs: BuildInputs) -> Path:
    return cache.section_dir(RESULTS) / f"{inputs.spec.profile}-{inputs.key()[:16]}"


def cached_kernel(inputs: BuildInputs) -> BuiltKernel | None:
    """The complete, verified result of this key, or None."""
    final = result_dir(inputs)
    manifest = cache.read_manifest(final)
    if manifest is None or cache.verify_entry(final, quick=True):
        return None
    return BuiltKernel(final, final / IMAGE, str(manifest["release"]), inputs.key(), manifest,
                       cached=True)


def build_kernel(inputs: BuildInputs, *, progress: bool) -> BuiltKernel:
    """The Image of ``inputs``: from the cache, or built (incrementally where possible)."""
    final = result_dir(inputs)
    with file_lock(cache.lock_path(RESULTS, final.name), what=f"kernel {final.name}"):
        hit = cached_kernel(inputs)
        if hit is not None:
            return hit
        directory = cache.section_dir(WORKSPACES) / inputs.config_key()[:16]
        with file_lock(cache.lock_path(WORKSPACES, directory.name),
                       what=f"build workspace {directory.name}"):
            return _build_in(Workspace(directory, inputs.tree.root), inputs, final, progress)


def _build_in(workspace: Workspace, inputs: BuildInputs, final: Path,
              progress: bool) -> BuiltKernel:
    report = Progress(f"kernel {inputs.spec.profile}", enabled=progress)
    started = time.monotonic()
    report.stage("preparing the source tree")
    workspace.prepare()
    staging = workspace.directory / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    report.stage(f"applying {sum(len(s.patches) for s in inputs.series)} patches")
    touched = apply_series(list(inputs.series), inputs.tree.root, staging)
    changed = workspace.sync(staging, touched)
    shutil.rmtree(staging, ignore_errors=True)
    log = workspace.logs / f"{inputs.key()[:16]}.log"
    with log.open("w") as log_file:
        _configure(workspace, inputs, log_file, report)
        report.stage(f"make {TARGET}")
        targets = [TARGET, MODULES] if inputs.spec.modules else [TARGET]
        make(workspace, inputs.toolchain, targets, log=log_file, log_path=log,
             timeout=BUILD_TIMEOUT, progress=report)
    seconds = round(time.monotonic() - started, 1)
    built = _store(workspace, inputs, final, log, seconds, changed)
    report.done(f"built in {seconds} s ({len(changed)} changed files; log {final / LOG})")
    return built


def _configure(workspace: Workspace, inputs: BuildInputs, log_file: Any,
               report: Progress) -> None:
    wanted = kconfig.merged(list(inputs.fragments), KernelVersion.parse(inputs.tree.version))
    config = workspace.out / ".config"
    if not config.is_file():
        report.stage("allnoconfig + fragments")
        allconfig = workspace.directory / "allconfig"
        allconfig.write_text(kconfig.allconfig_text(wanted))
        make(workspace, inputs.toolchain, ["allnoconfig"], log=log_file,
             timeout=CONFIGURE_TIMEOUT, extra_env={"KCONFIG_ALLCONFIG": str(allconfig)})
    report.stage("olddefconfig")
    make(workspace, inputs.toolchain, ["olddefconfig"], log=log_file, timeout=CONFIGURE_TIMEOUT)
    problems = kconfig.unmet(wanted, config.read_text(errors="replace"))
    if problems:
        # Start the next build from allnoconfig again: this .config is not what was asked.
        config.unlink()
        raise UsageError(f"Kconfig dropped {len(problems)} wanted symbol(s)", tuple(problems))


def _store(workspace: Workspace, inputs: BuildInputs, final: Path, log: Path, seconds: float,
           changed: list[str]) -> BuiltKernel:
    image = workspace.out / "arch/arm64/boot" / TARGET
    release = image_release(image.read_bytes())
    with cache.atomic_dir(final) as tmp:
        shutil.copyfile(image, tmp / IMAGE)
        shutil.copyfile(workspace.out / ".config", tmp / CONFIG)
        shutil.copyfile(log, tmp / LOG)
        kept = keep_modules(workspace.out, inputs.spec.modules, tmp / MODULES)
        manifest = {
            **inputs.record(),
            "release": release,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": seconds,
            "changed_files": changed,
            "workspace": str(workspace.directory),
            "modules": kept,
            "files": cache.describe_files(tmp, [IMAGE, CONFIG,
                                                *(f"{MODULES}/{name}" for name in kept)]),
        }
        cache.write_manifest(tmp, manifest)
    return BuiltKernel(final, final / IMAGE, release, inputs.key(), manifest, cached=False,
                       changed_files=tuple(changed))


def keep_modules(out: Path, wanted: tuple[str, ...], directory: Path) -> list[str]:
    """Copy the wanted modules into the result; a missing one means the fragment did not
    make it a module (``=m``): the user's to fix, named."""
    kept = []
    for relative in wanted:
        source = out / relative
        if not source.is_file():
            raise UsageError(f"the build made no {relative}: is it =m in the fragment?")
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, directory / source.name)
        kept.append(source.name)
    return kept
