"""Arguments shared by the front ends: the command line's commands and the avocado options."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.images.profiles import SourceOverrides
from harness.l2.settings import L2_KERNEL_DISTRO, L2_KERNEL_SMALL, L2_KERNELS, L2Settings
from harness.reports import ReportRequest, formats
from harness.reports.formats import ReportFormat


def whole_number(minimum: int, unit: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum`` (``unit`` for messages)."""
    what = f" {unit}" if unit else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number{what}, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}{what}")
        return value

    return parse


def add_source_kernel_arguments(parser: Any) -> None:
    """``--tree`` and ``--series``: change a source kernel profile for one command."""
    parser.add_argument("--tree", type=Path, metavar="DIR",
                        help="build source kernel profiles from this kernel checkout instead "
                             "of their Debian source package")
    parser.add_argument("--series", type=Path, action="append", metavar="PATH",
                        help="apply this series (an mbox from `b4 am`, or a directory of "
                             "numbered patches) after the source profile's own; repeatable. "
                             "The kernel is then predicted by its tree's version rules "
                             "unless --revision names what it carries")
    parser.add_argument("--revision", metavar="NAME",
                        help="the revision of the filter series the source kernel carries "
                             "(configs/kernel-rules.yaml `revisions`): what the oracle "
                             "predicts, instead of the profile's `revision:`")


def source_overrides(args: argparse.Namespace) -> SourceOverrides:
    """What ``add_source_kernel_arguments`` asked for."""
    return SourceOverrides(tree=args.tree, series=tuple(args.series or ()),
                           revision=args.revision)


def add_l2_arguments(parser: Any) -> None:
    parser.add_argument("--l2-kernel", choices=L2_KERNELS, default=L2_KERNEL_SMALL,
                        help=f"linux mode's L2 guest kernel: {L2_KERNEL_SMALL} (default: built "
                             "here from the 6.12 tree, PMU driver loaded per case), or "
                             f"{L2_KERNEL_DISTRO} (the L1's own Debian kernel). Either way it "
                             "is the guest's kernel, not the one under test")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--l2-boot", dest="l2_restore", action="store_false", default=False,
                       help="linux mode: boot L2 cold for every run (default)")
    start.add_argument("--l2-restore", dest="l2_restore", action="store_true",
                       help="linux mode, small L2 kernel: restore L2 for every run from the "
                            "snapshot of a booted, waiting L2 that each L1 takes once")


def l2_settings(args: argparse.Namespace) -> L2Settings:
    settings = L2Settings(kernel=args.l2_kernel, restore=args.l2_restore)
    conflict = settings.conflict()
    if conflict is not None:
        raise UsageError(f"--l2-restore needs --l2-kernel {L2_KERNEL_SMALL}: {conflict}")
    return settings


def add_local_kernel_arguments(parser: Any) -> None:
    """``--kernel-image``/``--kernel-modules``: the Image of the ``local`` kernel profile."""
    parser.add_argument("--kernel-image", type=Path, metavar="PATH",
                        help="arm64 Image for the `local` kernel profile")
    parser.add_argument("--kernel-modules", type=Path, metavar="DIR",
                        help="modules tree (lib/modules/<release>) for --kernel-image, when "
                             "its virtio-net is not built in")


def add_report_files(parser: Any, only: Sequence[ReportFormat] | None = None) -> None:
    """``--NAME FILE`` for each report format (``harness.reports.formats``), or ``only``."""
    for report in formats.FORMATS if only is None else only:
        parser.add_argument(report.option, type=Path, metavar="FILE", help=report.help)


def report_files(args: argparse.Namespace, only: Sequence[ReportFormat] | None = None
                 ) -> dict[str, Path]:
    """The report files ``add_report_files`` asked for, by format name."""
    return {f.name: path for f in (formats.FORMATS if only is None else only)
            if (path := getattr(args, f.name, None)) is not None}


def add_report_arguments(parser: Any, *, ktap: bool = True) -> None:
    """The reports every command that ends with results can write (``harness.reports``)."""
    add_report_files(parser)
    if ktap:
        parser.add_argument("--ktap", action="store_true",
                            help="print KTAP (with a `# Totals:` line) instead of the table")
    parser.add_argument("--skips", action="store_true", help="show skipped cases in the table")


def add_bisect_argument(parser: Any) -> None:
    parser.add_argument("--bisect", action="store_true",
                        help="for `git bisect run`: exit 128 (abort the bisect) on a usage "
                             "error instead of 2, which bisect would take for a bad commit")


def report_request(args: argparse.Namespace, run_dir: Path | None = None) -> ReportRequest:
    """The reports ``add_report_arguments`` asked for; ``run_dir`` keeps its own copies."""
    return ReportRequest(files=report_files(args),
                         ktap=getattr(args, "ktap", False), include_skips=args.skips,
                         run_dir=run_dir)
