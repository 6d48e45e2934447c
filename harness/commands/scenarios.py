"""``pmu-harness validate`` and ``pmu-harness list``: scenario files, nothing booted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.catalog import KINDS, ProfileKind
from harness.errors import EXIT_OK, UsageError
from harness.paths import SCENARIOS_DIR
from harness.printable import printable
from harness.scenario.discover import load_scenarios, with_tags
from harness.yamlsource import LocatedDict, load_located


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate", help="check scenario files; every problem is reported as file:line")
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                          help="scenario files or directories")
    validate.set_defaults(func=run_validate)

    listing = subparsers.add_parser("list", help="list the scenarios")
    listing.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                         help=f"files or directories (default: {SCENARIOS_DIR})")
    listing.add_argument("--tag", action="append", default=[],
                         help="only scenarios with this tag (repeatable: all must match)")
    which = listing.add_mutually_exclusive_group()
    for folder, kind in KINDS.items():
        which.add_argument(f"--{folder}", dest="profiles", action="store_const", const=folder,
                           help=f"list the {kind.kind}s of configs/{folder}/ instead, with "
                                "their descriptions")
    listing.set_defaults(func=run_list)


def run_validate(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.paths)
    print(f"{len(scenarios)} scenario(s) valid")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    if args.profiles:
        if args.paths or args.tag:
            raise UsageError(f"--{args.profiles} lists profiles: drop the paths and --tag")
        return _list_profiles(KINDS[args.profiles])
    rows = with_tags(load_scenarios(args.paths or [SCENARIOS_DIR]), args.tag)
    if not rows:
        raise UsageError(f"no scenario carries every tag of: {', '.join(args.tag)}")
    width = max((len(s.id) for s in rows), default=2)
    for s in sorted(rows, key=lambda s: s.id):
        # A description may hold escape sequences (YAML's "\e"): shown, never obeyed.
        tags = printable(",".join(s.tags))
        print(f"{s.id:<{width}}  [{tags}]  {printable(s.description)}", file=sys.stdout)
    return EXIT_OK


def _list_profiles(kind: ProfileKind) -> int:
    names = kind.names()
    width = max((len(n) for n in names), default=2)
    for name in names:
        print(f"{name:<{width}}  {printable(profile_description(kind, name))}")
    return EXIT_OK


def profile_description(kind: ProfileKind, name: str) -> str:
    """The ``description:`` of a profile, on one line ("" when it has none)."""
    document = load_located(kind.path(name))
    text = document.get("description", "") if isinstance(document, LocatedDict) else ""
    return " ".join(str(text).split())
