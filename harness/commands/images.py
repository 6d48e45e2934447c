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
from harness.errors import EXIT_INFRA, EXIT_OK, UsageError
from harness.images.build import SECTION
from harness.images.prune import stale_image_sets
from harness.machine.snapshot import SnapshotStore
from harness.paths import cache_dir
from harness.store import budget, cache

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
                                             "kernel profile, then the least recently used "
                                             "entries until the cache fits its cap")
    prune.add_argument("--keep", type=whole_number(1), default=2, metavar="N",
                       help="image sets to keep per kernel profile (default 2: the current "
                            "one and the one before)")
    prune.add_argument("--max-size", type=_cap_size, metavar="SIZE",
                       help="then evict the least recently used until the cache fits SIZE "
                            f"(e.g. 20G; default ${budget.CAP_VARIABLE}, else "
                            f"{budget.human(budget.DEFAULT_CAP)})")
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    prune.set_defaults(func=_prune)

    clean = actions.add_parser("clean", help="delete cached image sets (and, --all, downloads)")
    clean.add_argument("--all", action="store_true",
                       help="also the userspace layer, tool builds and apt downloads")
    clean.set_defaults(func=_clean)


def _cap_size(text: str) -> int:
    try:
        return budget.parse_size(text, "--max-size")
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
    """The stale (all but the newest ``--keep`` of each line), then the least recently
    used until the cache fits its cap; every removal said, with its size, then the sums by
    kind."""
    root = cache_dir()
    cap = args.max_size if args.max_size is not None else budget.configured_cap()
    gone: list[budget.Entry] = []
    # Each removal (and each entry kept because it is in use) is logged where it happens
    # (harness.store.budget); a dry run removes nothing, so it says here what would go.
    for entry, why in _stale(args.keep):
        if _try(entry, why, args.dry_run):
            gone.append(entry)
            _would(args.dry_run, entry, why)
    # A dry run removed nothing: the cap's pass must count as if it had.
    enforced = budget.enforce(root, cap, dry_run=args.dry_run,
                              gone=gone if args.dry_run else ())
    for entry in enforced.evicted:
        _would(args.dry_run, entry, "least recently used, over the cap")
    gone += enforced.evicted
    print(_freed(gone, args.dry_run))
    after = "would be" if args.dry_run else "is"
    print(f"cache {root} {after} {budget.human(enforced.after)}, cap {budget.human(cap)} "
          f"({budget.CAP_VARIABLE} or --max-size)")
    return EXIT_OK


def _would(dry_run: bool, entry: budget.Entry, why: str) -> None:
    if dry_run:
        print(f"would remove {entry.describe()}: {why}")


def _try(entry: budget.Entry, why: str, dry_run: bool) -> bool:
    if not dry_run:
        return budget.evict(entry, why)
    with budget.unused(entry.path) as free:
        return free


def _stale(keep: int) -> list[tuple[budget.Entry, str]]:
    """Image sets beyond the ``keep`` newest of their line, the snapshots of image sets
    that go or are gone, built kernels beyond the newest of theirs, unused workspaces."""
    from harness.kbuild import prune

    sets = images.list_image_sets()
    stale = stale_image_sets(sets, keep)
    found = [(budget.entry_of(s.directory),
              f"not among the {keep} newest of {s.kernel_profile}") for s in stale]
    kept = {s.cache_key for s in sets} - {s.cache_key for s in stale}
    found += [(budget.entry_of(orphan), "its image set is gone")
              for orphan in SnapshotStore().orphans(kept)]
    results, workspaces = prune.stale(keep)
    found += [(budget.entry_of(e.path), f"not among the {keep} newest of {e.profile}")
              for e in results]
    found += [(budget.entry_of(w), "no kept kernel was built in it") for w in workspaces]
    return found


def _freed(gone: list[budget.Entry], dry_run: bool) -> str:
    by_kind: dict[str, list[budget.Entry]] = {}
    for entry in gone:
        by_kind.setdefault(entry.kind, []).append(entry)
    parts = [f"{len(members)} {kind} ({budget.human(sum(e.size for e in members))})"
             for kind, members in sorted(by_kind.items())]
    total = budget.human(sum(e.size for e in gone))
    return (f"{'would free' if dry_run else 'freed'}: {', '.join(parts) or 'nothing'}; "
            f"{total} in all")


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
