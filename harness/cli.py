"""Command line entry point. Exit codes are decided here and only here."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

from harness.errors import (
    EXIT_ABORT_BISECT,
    EXIT_INFRA,
    EXIT_USAGE,
    HarnessError,
    InfraError,
    UsageError,
)

# Each command module exposes ``register(subparsers)`` which adds its sub-command(s) and sets
# ``func`` (args -> exit code) as the parser default. Listed by module so that a command whose
# optional dependencies are missing does not break the others.
COMMAND_MODULES = (
    "harness.commands.images",
    "harness.commands.boot",
    "harness.commands.scenarios",
    "harness.commands.run",
    "harness.commands.rerun",
    "harness.commands.report",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmu-harness",
        description="Test KVM/arm64 PMU event filtering on real kernels under QEMU.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same clean-up path as Ctrl-C: every context manager unwinds and
    # reaps its processes.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        code = _main(words)
    finally:
        # Called in-process (tests, other tools), the caller's handler comes back.
        signal.signal(signal.SIGTERM, previous)
    if code == EXIT_USAGE and "--bisect" in words:
        print("pmu-harness: aborting the bisect: this usage error would be the same on every "
              "commit", file=sys.stderr)
        return EXIT_ABORT_BISECT
    return code


def _main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits itself on bad arguments (2) and after --help (0).
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except UsageError as exc:
        if exc.problems:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"pmu-harness: {len(exc.problems)} problem(s); nothing was run",
                  file=sys.stderr)
        else:
            print(f"pmu-harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except HarnessError as exc:
        kind = "infrastructure error" if isinstance(exc, InfraError) else "error"
        print(f"pmu-harness: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pmu-harness: interrupted; everything started was stopped", file=sys.stderr)
        return EXIT_INFRA
    except Exception:  # noqa: BLE001 - last resort: a harness bug must not read as "bad kernel"
        traceback.print_exc()
        print("pmu-harness: internal error (a harness bug, not a kernel verdict)",
              file=sys.stderr)
        return EXIT_INFRA


if __name__ == "__main__":
    sys.exit(main())
