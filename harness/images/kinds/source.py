"""``kind: source``: a kernel built here from a tree (a pinned Debian ``linux-source-X``, or
the user's ``--tree``) plus ordered patch series, Kconfig fragments and build options
(``harness.kbuild``); ``revision:`` names the filter series revision it carries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.images.kernel import KernelFiles, KernelPlan, KernelRequest, write_image
from harness.images.profiles import (
    KernelProfile,
    SourceOverrides,
    SourceSpec,
    optional_str,
)
from harness.kbuild import kconfig
from harness.kbuild.build import (
    BuildInputs,
    BuildSpec,
    build_kernel,
    read_inputs,
    result_dir,
)
from harness.kbuild.series import resolve
from harness.kbuild.tree import TreeSpec
from harness.kernelrules import KernelVersion, revision
from harness.located import file_problem, string_list_of
from harness.store import budget
from harness.store.aptspec import parse_apt_spec


def parse_source_spec(raw: dict[str, Any], path: Path) -> SourceSpec:
    """The fields of a ``kind: source`` profile."""
    tree = raw.get("tree")
    if not isinstance(tree, dict):
        raise file_problem(path, "a source profile needs tree: {package, version, apt}")
    package, version = tree.get("package"), tree.get("version")
    if not isinstance(package, str) or not package.startswith("linux-source-"):
        raise file_problem(path, "tree.package must be a Debian linux-source-X package")
    if not isinstance(version, (str, int, float)) or not str(version):
        raise file_problem(path, "tree.version must be the package's exact version (e.g. "
                            "5.10.223-1)")
    return SourceSpec(
        package=package, version=str(version), apt=parse_apt_spec(tree.get("apt"), path),
        series=string_list_of(raw.get("series", []), path, "series"),
        fragments=string_list_of(raw.get("fragments"), path, "fragments"),
        options=string_list_of(raw.get("options", []), path, "options"),
        revision=optional_str(raw, "revision", path),
    )


def source_build_spec(profile: KernelProfile, overrides: SourceOverrides) -> BuildSpec:
    """A source profile's names resolved to checked paths (each unknown name is exit 2)."""
    source = profile.source
    assert source is not None
    tree = (TreeSpec(directory=overrides.tree) if overrides.tree is not None
            else TreeSpec(package=source.package, version=source.version, apt=source.apt))
    if overrides.series_only is not None and overrides.fragments_only is not None:
        return BuildSpec(profile=profile.name, tree=tree, series=overrides.series_only,
                         fragments=overrides.fragments_only)
    return BuildSpec(
        profile=profile.name, tree=tree,
        series=(*(resolve(name, profile.path) for name in source.series),
                *(resolve(str(path.expanduser().resolve())) for path in overrides.series)),
        fragments=tuple(kconfig.fragment_path(name) for name in source.fragments),
        options=tuple(kconfig.fragment_path(name, option=True)
                      for name in dict.fromkeys((*source.options, *overrides.options))),
    )


def predicted_revision(profile: KernelProfile, overrides: SourceOverrides
                       ) -> tuple[str | None, str]:
    """Which revision of the filter series the oracle predicts for this build (None: the
    tree's own version rules, the documented API of that version), and why.

    A profile's ``revision:`` describes the profile's own series. A series the user adds
    (``--series``) makes a kernel the harness knows nothing of: it is judged like any
    kernel of the tree's version, unless ``--revision`` names what it carries. Never the
    profile's revision silently: ``filter-base``'s "no FILTER" would call a correct series
    broken.
    """
    if overrides.revision is not None:
        try:
            revision(overrides.revision)
        except UsageError as exc:  # an unknown name, with the close matches
            raise UsageError(f"--revision: {exc}") from exc
        return overrides.revision, f"revision {overrides.revision} (--revision)"
    own = profile.revision
    if overrides.series and own is not None:
        return None, (f"the tree's version rules: --series added a series, so the profile's "
                      f"revision {own} no longer describes the kernel (--revision NAME "
                      f"predicts a known revision instead)")
    if own is not None:
        return own, f"revision {own} (profile {profile.name})"
    return None, "the tree's version rules (no revision of the series named)"


def built_from(inputs: BuildInputs) -> str:
    """The tree, its version and every series with the hash of its patches, in one line."""
    series = ", ".join(f"{s.name} [{_series_hash(s.key())}]" for s in inputs.series)
    version = KernelVersion.parse(inputs.tree.version)
    # A checkout's description already has its Makefile version; a package's has its own.
    tree = inputs.tree.describe if str(version) in inputs.tree.describe \
        else f"{inputs.tree.describe} (Linux {version})"
    return tree + (f" + {series}" if series else ", no series")


def _series_hash(key: dict[str, Any]) -> str:
    """Twelve hex digits over the series' patch hashes: the same patches, the same hash."""
    return hashlib.sha256("".join(key["patches"]).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SourceKind:
    name: str = "source"
    built_here: bool = True
    takes_overrides: bool = True
    takes_local_image: bool = False

    def parse(self, raw: dict[str, Any], path: Path, name: str, description: str
              ) -> KernelProfile:
        return KernelProfile(name=name, description=description, kind=self.name, path=path,
                             source=parse_source_spec(raw, path))

    def plan(self, profile: KernelProfile, request: KernelRequest) -> KernelPlan:
        inputs = read_inputs(source_build_spec(profile, request.overrides),
                             progress=request.progress)
        names = "+".join(s.name for s in inputs.series)
        package = inputs.tree.identity.get("package") or "tree"
        chosen, why = predicted_revision(profile, request.overrides)
        return KernelPlan(profile=profile,
                          package=f"{package}+{names}" if names else str(package),
                          version=inputs.tree.version, key={"build_key": inputs.key()},
                          source=inputs, revision=chosen,
                          prediction=f"{built_from(inputs)}: {why}")

    def unpack(self, plan: KernelPlan, work: Path, progress: bool) -> KernelFiles:
        assert plan.source is not None
        # The image set being built uses the kernel and its workspace (the next build of
        # this configuration is incremental in it): neither may be evicted meanwhile.
        budget.take(result_dir(plan.source))
        built = build_kernel(plan.source, progress=progress)
        workspace = built.manifest.get("workspace")
        if isinstance(workspace, str) and workspace:
            budget.take(Path(workspace))
        files = write_image(built.image, work / "Image", built.release, plan)
        files.build = {**plan.source.record(), "image_sha256": built.image_sha256,
                       "build_log": str(built.directory / "build.log")}
        return files


KIND = SourceKind()
