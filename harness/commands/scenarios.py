"""``pmu-harness validate`` and ``pmu-harness list``: scenario files, nothing booted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import EXIT_OK, UsageError
from harness.paths import SCENARIOS_DIR
from harness.printable import printable
from harness.scenario.discover import load_scenarios, with_tags


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
    listing.set_defaults(func=run_list)


def run_validate(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.paths)
    print(f"{len(scenarios)} scenario(s) valid")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    rows = with_tags(load_scenarios(args.paths or [SCENARIOS_DIR]), args.tag)
    if not rows:
        raise UsageError(f"no scenario carries every tag of: {', '.join(args.tag)}")
    width = max((len(s.id) for s in rows), default=2)
    for s in sorted(rows, key=lambda s: s.id):
        # A description may hold escape sequences (YAML's "\e"): shown, never obeyed.
        tags = printable(",".join(s.tags))
        print(f"{s.id:<{width}}  [{tags}]  {printable(s.description)}", file=sys.stdout)
    return EXIT_OK
