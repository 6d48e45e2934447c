"""``pmu-harness images build|list|verify|prune|clean``: the guest image cache."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from harness import images
from harness.catalog import KERNELS
from harness.cliargs import (
    add_local_kernel_arguments,
    add_source_kernel_arguments,
    source_overrides,
    whole_number,
)
from harness.errors import EXIT_INFRA, EXIT_OK
from harness.images.build import SECTION
from harness.images.prune import stale_image_sets
from harness.machine.snapshot import SnapshotStore
from harness.paths import cache_dir
from harness.store import cache
from harness.store.locking import file_lock

DEFAULT_PROFILE = "debian-6.1"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("images", help="build, list, verify and clean guest images")
    actions = parser.add_subparsers(dest="images_command", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="build (or reuse) the image set of a kernel")
    build.add_argument("--kernel", action="append", metavar="PROFILE",
                       help=f"kernel profile (repeatable; default {DEFAULT_PROFILE}; "
                            f"known: {', '.join(KERNELS.names())}, or 'all')")
    add_local_kernel_arguments(build)
    add_source_kernel_arguments(build)
    build.add_argument("--refresh", action="store_true",
                       help="re-read the Debian package lists now (default: once a day)")
    build.add_argument("--quiet", action="store_true", help="no progress output")
    build.set_defaults(func=_build)

    listing = actions.add_parser("list", help="cached image sets: versions, sizes, hashes")
    listing.add_argument("--kernel", action="append", metavar="PROFILE",
                         help="only the image sets of this kernel profile (repeatable)")
    listing.set_defaults(func=_list)

    verify = actions.add_parser("verify", help="re-hash every cached file (exit 1 if damaged)")
    verify.set_defaults(func=_verify)

    prune = actions.add_parser("prune", help="delete all but the newest image sets of each "
                                             "kernel profile (for long-lived CI hosts)")
    prune.add_argument("--keep", type=whole_number(1), default=2, metavar="N",
                       help="image sets to keep per kernel profile (default 2: the current "
                            "one and the one before)")
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    prune.set_defaults(func=_prune)

    clean = actions.add_parser("clean", help="delete cached image sets (and, --all, downloads)")
    clean.add_argument("--all", action="store_true",
                       help="also the userspace layer, tool builds and apt downloads")
    clean.set_defaults(func=_clean)


def _profiles(requested: list[str] | None) -> list[str]:
    if not requested:
        return [DEFAULT_PROFILE]
    if "all" in requested:
        return [name for name in KERNELS.names() if name != "local"]
    return requested


def _build(args: argparse.Namespace) -> int:
    for profile in _profiles(args.kernel):
        image_set = images.build_image_set(
            profile, local_image=args.kernel_image, local_modules=args.kernel_modules,
            progress=not args.quiet, refresh=args.refresh, overrides=source_overrides(args))
        print(image_set.summary())
        print(f"  entry: {image_set.directory}")
        if image_set.build is not None:
            print(f"  built from: {_built_from(image_set.build)}")
            print(f"  predicted by: {image_set.kernel_prediction}")
            print(f"  build log: {image_set.build.get('build_log')}")
    return EXIT_OK


def _built_from(build: dict[str, Any]) -> str:
    series = ", ".join(f"{s['name']} ({len(s['patches'])} patches)" for s in build["series"])
    return f"{build['tree']['describe']} + {series or 'no series'}; key {build['build_key'][:16]}"


def _size(image_set: images.ImageSet) -> int:
    return sum(int(r["size"]) for r in image_set.manifest["files"].values())


def _list(args: argparse.Namespace) -> int:
    sets = images.list_image_sets()
    if args.kernel:
        KERNELS.check(args.kernel)  # an unknown name is a usage error, with close matches
        sets = [s for s in sets if s.kernel_profile in args.kernel]
    if not sets:
        which = f" of {', '.join(args.kernel)}" if args.kernel else ""
        print(f"no image sets{which} in {cache_dir() / SECTION}")
    for image_set in sets:
        print(image_set.summary())
        print(f"  entry: {image_set.directory} ({_size(image_set) / 1e6:.1f} MB, "
              f"built {image_set.manifest.get('created', '?')})")
        for name, record in sorted(image_set.manifest["files"].items()):
            print(f"  {name:<20} {int(record['size']):>11}  sha256 {record['sha256']}")
        tools = image_set.manifest.get("tools", {})
        for name, tool in sorted(tools.items()):
            state = "included" if tool["included"] else f"absent ({tool.get('reason', '')})"
            print(f"  tool {name}: {state}")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    sets = images.list_image_sets()
    bad = 0
    for image_set in sets:
        problems = images.verify_image_set(image_set)
        status = "ok" if not problems else "DAMAGED"
        print(f"{status:8} {image_set.directory.name}: {image_set.summary()}")
        for problem in problems:
            print(f"         {problem}")
        bad += bool(problems)
    print(f"{len(sets)} image set(s), {bad} damaged"
          + (" (the next 'images build' of a damaged set rebuilds it)" if bad else ""))
    # A damaged image is the machinery's problem (125), never "the kernel misbehaved" (1).
    return EXIT_INFRA if bad else EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    stale = stale_image_sets(images.list_image_sets(), args.keep)
    freed = 0
    for image_set in stale:
        size = _size(image_set)
        if not args.dry_run:
            # Under the entry's lock: a build of the same entry waits rather than races.
            with file_lock(cache.lock_path(SECTION, image_set.directory.name)):
                shutil.rmtree(image_set.directory)
        freed += size
        print(f"{'would remove' if args.dry_run else 'removed'} {image_set.directory.name} "
              f"({image_set.kernel_package} {image_set.kernel_package_version}, "
              f"built {image_set.manifest.get('created', '?')}, {size / 1e6:.0f} MB)")
    gone = {s.cache_key for s in stale}
    kept = {s.cache_key for s in images.list_image_sets()} - gone
    snapshots = SnapshotStore()
    for orphan in snapshots.orphans(kept):
        size = sum(p.stat().st_size for p in orphan.rglob("*") if p.is_file())
        if not args.dry_run:
            snapshots.drop(orphan.name)
        freed += size
        print(f"{'would remove' if args.dry_run else 'removed'} snapshot {orphan.name} "
              f"(its image set is gone, {size / 1e6:.0f} MB)")
    freed += _prune_kernels(args.keep, args.dry_run)
    print(f"{len(stale)} image set(s), {freed / 1e6:.0f} MB"
          + (" would be freed" if args.dry_run else " freed"))
    return EXIT_OK


def _prune_kernels(keep: int, dry_run: bool) -> int:
    """Built kernels beyond the newest of each source profile, and unused workspaces."""
    from harness.kbuild import prune
    from harness.kbuild.build import RESULTS, WORKSPACES

    results, workspaces = prune.stale(keep)
    freed = 0
    verb = "would remove" if dry_run else "removed"
    for entry in results:
        freed += 0 if dry_run else prune.remove(entry.path, RESULTS)
        print(f"{verb} built kernel {entry.path.name} (built {entry.created})")
    for workspace in workspaces:
        freed += 0 if dry_run else prune.remove(workspace, WORKSPACES)
        print(f"{verb} build workspace {workspace.name} (no kept kernel was built in it)")
    return freed


def _clean(args: argparse.Namespace) -> int:
    root = cache_dir()
    # Built kernels are cheap to redo from the workspaces and ccache, which --all removes.
    sections = ([SECTION, "keys", "kernels", "userspace", "tools", "apt", "kbuild", "trees",
                 "ccache", "locks"] if args.all else [SECTION, "keys", "kernels"])
    for name in sections:
        path = root / name
        if path.exists():
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
            print(f"removed {path} ({size / 1e6:.1f} MB)")
    for stale in cache.stale_temporaries(root / "userspace"):
        shutil.rmtree(stale, ignore_errors=True)
    print(f"cache: {root}", file=sys.stderr)
    return EXIT_OK
