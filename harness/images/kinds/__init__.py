"""The kinds of kernel profile, one module each, and the one registry of them.

A profile's ``kind:`` picks its entry here; everything else about a kernel profile (reading
its fields, resolving it to exact inputs for the image set's key, unpacking or building
it, which command-line options apply) is asked of that entry. A new kind is a module
here with a ``KIND`` and one line in ``REGISTRY``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.catalog import KERNELS, unknown_name
from harness.errors import InfraError, UsageError
from harness.images.kernel import KernelFiles, KernelKind, KernelPlan, KernelRequest
from harness.images.kinds import debian, local, source
from harness.images.profiles import (
    KERNELS_DIR,
    NO_OVERRIDES,
    KernelProfile,
    command_line_words,
)
from harness.located import file_problem
from harness.yamlsource import LocatedDict, load_located

REGISTRY: dict[str, KernelKind] = {kind.name: kind for kind in (
    debian.KIND, local.KIND, source.KIND)}


def kind_modules() -> tuple[str, ...]:
    """Each kind's module as ``images/kinds/<name>``: what the image set's key hashes of
    the kinds' code (``images.build.CODE``), so a new kind is in it with no other edit."""
    return tuple(sorted(type(kind).__module__.removeprefix("harness.").replace(".", "/")
                        for kind in REGISTRY.values()))


def kernel_kind(profile: KernelProfile) -> KernelKind:
    return REGISTRY[profile.kind]


def parse_profile(raw: object, path: Path) -> KernelProfile:
    """Validate one profile document; every error names the file."""
    if not isinstance(raw, dict):
        raise file_problem(path, "a kernel profile must be a YAML mapping")
    name, kind = raw.get("name"), raw.get("kind")
    if name != path.stem:
        raise file_problem(path, f"name must match the file name ({path.stem!r}), not "
                                 f"{name!r}")
    if not isinstance(kind, str) or kind not in REGISTRY:
        known = unknown_name("kernel profile kind", str(kind), REGISTRY)
        raise file_problem(path, f"kind: {known}")
    profile = REGISTRY[kind].parse(raw, path, name, str(raw.get("description", "")))
    return replace(profile, l1_command_line=command_line_words(raw, path))


def l1_command_line(name: str) -> tuple[str, ...]:
    """What profile ``name`` adds to L1's kernel command line; none for a name that is no
    profile here (an image set made by hand, as in the unit tests)."""
    if name not in KERNELS.names():
        return ()
    return load_profile(name).l1_command_line


def load_profile(name: str, directory: Path = KERNELS_DIR) -> KernelProfile:
    """The profile called ``name``; an unknown name is the user's error and lists the known.
    Read bounded, like a scenario: a bundle's copy of a profile is read too."""
    path = KERNELS.path(name, directory)
    document = load_located(path)
    return parse_profile(dict(document) if isinstance(document, LocatedDict) else document,
                         path)


def plan_kernel(profile: KernelProfile, request: KernelRequest) -> KernelPlan:
    """The kernel resolved to exact inputs; options that do not apply to its kind are the
    user's error."""
    kind = kernel_kind(profile)
    if request.overrides != NO_OVERRIDES and not kind.takes_overrides:
        raise UsageError(f"--tree/--series/--revision only apply to source kernel profiles, not "
                         f"{profile.name} ({profile.kind})")
    if (request.local_image or request.local_modules) and not kind.takes_local_image:
        raise UsageError(f"--kernel-image/--kernel-modules only apply to the 'local' profile, not "
                         f"{profile.name}")
    return kind.plan(profile, request)


def unpack_kernel(plan: KernelPlan, work: Path, *, progress: bool) -> KernelFiles:
    """Fetch or build, then unpack, the kernel into ``work``; resolve L1's modules."""
    try:
        kind = kernel_kind(plan.profile)
    except KeyError as exc:  # a plan is only ever made from a parsed profile
        raise InfraError(f"kernel profile kind {plan.profile.kind!r} has no builder") from exc
    return kind.unpack(plan, work, progress)
