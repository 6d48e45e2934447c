"""Build (or find in the cache) the image set of a kernel profile; list and verify sets."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.images import tools
from harness.images.kernel import KernelPlan, KernelRequest
from harness.images.keys import install_key_files, load_or_make_keys
from harness.images.kinds import kind_modules, load_profile, plan_kernel, unpack_kernel
from harness.images.l1 import concatenate, write_overlay
from harness.images.model import CLIENT_KEY, KERNEL_IMAGE, L1_INITRD, L2_INITRD, ImageSet
from harness.images.profiles import NO_OVERRIDES, SourceOverrides
from harness.images.recipe import L1_DIR, code_hashes, recipe_hashes
from harness.images.userspace import CPIO, UserspacePlan, ensure_userspace, plan_userspace
from harness.store import budget, cache
from harness.store.locking import file_lock

log = logging.getLogger(__name__)

SECTION = "images"
FORMAT = 1
# The builders' code the image set's key hashes: these, and every kind of kernel profile.
CODE = ("images/build", "images/l1", "images/kernel", "images/keys", "images/modules",
        "images/cpio", "images/tools", *kind_modules())
ENTRY_FILES = [KERNEL_IMAGE, L1_INITRD, L2_INITRD, CLIENT_KEY, f"{CLIENT_KEY}.pub",
               "host_key.pub"]
# A kernel built here leaves its log with the image set: the built kernel's own entry may be
# evicted while the image set stays (a cache hit never takes it), and `images build`, the
# results and a review's new-warnings check all read the log through the image set.
BUILD_LOG = "build.log"


@dataclass(frozen=True)
class Plan:
    kernel: KernelPlan
    userspace: UserspacePlan
    tools: list[tools.ToolPlan]
    key: str

    @property
    def directory(self) -> Path:
        return cache.section_dir(SECTION) / f"{self.kernel.profile.name}-{self.key[:16]}"


def entry_key(kernel: dict[str, Any], userspace_key: str, tool_plans: list[tools.ToolPlan],
              recipe: dict[str, str]) -> str:
    """The cache key of an image set: recipe, resolved versions, tool sources."""
    return cache.digest({
        "format": FORMAT,
        "kernel": kernel,
        "userspace": userspace_key,
        "tools": {p.tool.name: p.key if p.present else None for p in tool_plans},
        "recipe": recipe,
    })


def plan(kernel_profile: str, *, local_image: Path | None = None,
         local_modules: Path | None = None, refresh: bool = False,
         overrides: SourceOverrides = NO_OVERRIDES, progress: bool = False) -> Plan:
    profile = load_profile(kernel_profile)
    kernel = plan_kernel(profile, KernelRequest(local_image=local_image,
                                                local_modules=local_modules, refresh=refresh,
                                                overrides=overrides, progress=progress))
    userspace = plan_userspace(refresh=refresh)
    tool_plans = tools.plan_tools()
    recipe = {**recipe_hashes(profile.path, L1_DIR / "init", L1_DIR / "modules.txt"),
              **code_hashes(*CODE)}
    key = entry_key({"profile": profile.name, **kernel.key}, userspace.key, tool_plans, recipe)
    return Plan(kernel=kernel, userspace=userspace, tools=tool_plans, key=key)


def _say(progress: bool, message: str) -> None:
    if progress:
        log.info("pmu-harness: %s", message)


def build_image_set(kernel_profile: str, *, local_image: Path | None = None,
                    local_modules: Path | None = None, progress: bool = True,
                    refresh: bool = False,
                    overrides: SourceOverrides = NO_OVERRIDES) -> ImageSet:
    """The verified image set for ``kernel_profile``, from the cache when possible."""
    the_plan = plan(kernel_profile, local_image=local_image, local_modules=local_modules,
                    refresh=refresh, overrides=overrides, progress=progress)
    final = the_plan.directory
    # Leased before it is looked at: from here on no eviction can take it from this command.
    budget.take(final)
    with file_lock(cache.lock_path(SECTION, final.name), what=f"image set {final.name}"):
        manifest = cache.read_manifest(final)
        if manifest is not None:
            problems = cache.verify_entry(final, quick=True)
            if not problems:
                kernel = the_plan.kernel
                record = kernel.source.record() if kernel.source is not None else None
                return ImageSet.from_manifest(final, with_invocation(
                    manifest, record, revision=kernel.revision,
                    prediction=kernel.prediction))
            _say(progress, f"cached {final.name} is damaged ({problems[0]}); rebuilding")
        with cache.atomic_dir(final) as tmp:
            manifest = _build(the_plan, tmp, progress=progress)
        _say(progress, f"built {final.name} in {manifest['seconds']['total']} s")
    # Outside the set's lock: the cap's pass may wait for another process's pass.
    budget.after_store(final.parent.parent)
    return ImageSet.from_manifest(final, manifest)


def with_invocation(manifest: dict[str, Any], record: dict[str, Any] | None, *,
                    revision: str | None, prediction: str) -> dict[str, Any]:
    """A cached set's manifest with what this invocation says of its kernel.

    The entry is keyed by content (the series' and fragments' hashes), so whoever built it
    first may have read the very same patches from elsewhere (a bundle's copy under a
    temporary directory that is long gone: a bundle copies the inputs from the paths its
    record names, so the record must name where this run read them), and may have asked
    for another prediction of the same kernel (``--revision``)."""
    current = {**manifest["kernel"], "revision": revision, "prediction": prediction}
    build = current.get("build")
    if record is not None and isinstance(build, dict):
        current["build"] = {**build, **record}
    return {**manifest, "kernel": current}


def _build(the_plan: Plan, out: Path, *, progress: bool) -> dict[str, Any]:
    started = time.monotonic()
    layer, layer_manifest = ensure_userspace(the_plan.userspace, progress=progress)
    userspace_done = time.monotonic()
    work = out / "work"
    work.mkdir()
    kernel = unpack_kernel(the_plan.kernel, work, progress=progress)
    (work / "Image").rename(out / KERNEL_IMAGE)
    kernel.image = out / KERNEL_IMAGE
    kernel.build = _keep_build_log(kernel.build, out, the_plan.directory)
    kernel_done = time.monotonic()
    built_tools = {p.tool.guest_path: tools.build_tool(p) for p in the_plan.tools if p.present}
    keys = load_or_make_keys(cache.section_dir("keys") / the_plan.directory.name)
    install_key_files(keys, out)
    shutil.copyfile(layer / L2_INITRD, out / L2_INITRD)
    info = _info(the_plan, kernel.release, kernel.build)
    module_paths = write_overlay(work / "overlay.cpio", kernel=kernel,
                                 l2_initrd=out / L2_INITRD, keys=keys,
                                 tools=built_tools, info=info)
    concatenate([layer / CPIO, work / "overlay.cpio"], out / L1_INITRD)
    shutil.rmtree(work, ignore_errors=True)
    manifest = {
        **info,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": {**info["kernel"], "modules": module_paths},
        "userspace": {"key": the_plan.userspace.key, "directory": str(layer),
                      "packages": layer_manifest["packages"]},
        "tools": tools.describe(the_plan.tools),
        "ssh_host_public_key": keys.host_public,
        "files": cache.describe_files(out, ENTRY_FILES),
        "seconds": {"userspace": round(userspace_done - started, 2),
                    "kernel": round(kernel_done - userspace_done, 2),
                    "total": round(time.monotonic() - started, 2)},
    }
    cache.write_manifest(out, manifest)
    return manifest


def _keep_build_log(build: dict[str, Any], out: Path, final: Path) -> dict[str, Any]:
    """``build`` with its log copied into the image set being written in ``out``, and
    named where it will be once ``out`` becomes ``final``."""
    log_path = build.get("build_log")
    if not isinstance(log_path, str) or not Path(log_path).is_file():
        return build
    shutil.copyfile(log_path, out / BUILD_LOG)
    return {**build, "build_log": str(final / BUILD_LOG)}


def _info(the_plan: Plan, release: str, build: dict[str, Any]) -> dict[str, Any]:
    kernel: dict[str, Any] = {"package": the_plan.kernel.package,
                              "version": the_plan.kernel.version, "release": release,
                              "revision": the_plan.kernel.revision,
                              "prediction": the_plan.kernel.prediction}
    if build:
        kernel["build"] = build
    return {
        "format": FORMAT,
        "cache_key": the_plan.key,
        "kernel_profile": the_plan.kernel.profile.name,
        "kernel": kernel,
    }


def list_image_sets() -> list[ImageSet]:
    """Every complete entry in the cache (damaged ones too: ``verify_image_set`` says so)."""
    sets = []
    for directory in sorted(cache.section_dir(SECTION).iterdir()):
        if directory.name.startswith(cache.TMP_PREFIX) or not directory.is_dir():
            continue
        manifest = cache.read_manifest(directory)
        if manifest is not None and manifest.get("format") == FORMAT:
            sets.append(ImageSet.from_manifest(directory, manifest))
    return sets


def verify_image_set(image_set: ImageSet) -> list[str]:
    """Every problem with the set's files (hashes all of them); empty when good."""
    return cache.verify_entry(image_set.directory)
