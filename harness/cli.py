"""Command line entry point. Exit codes are decided here and only here."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TextIO

from harness import __version__, status
from harness.errors import (
    EXIT_ABORT_BISECT,
    EXIT_CHECK_FAILED,
    EXIT_INFRA,
    EXIT_NOTHING_JUDGED,
    EXIT_OK,
    EXIT_USAGE,
    HarnessError,
    InfraError,
    UsageError,
)
from harness.store import budget

log = logging.getLogger(__name__)

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
    "harness.commands.mutants",
    "harness.commands.review",
)

Handler = Callable[[argparse.Namespace], int]
# Every status `pmu-harness` may end with (plus 128 under --bisect, for a usage error).
EXIT_CODES = frozenset({EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_NOTHING_JUDGED,
                        EXIT_INFRA})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmu-harness",
        description="Test KVM/arm64 PMU event filtering on real kernels under QEMU.",
    )
    parser.add_argument("--version", action="version", version=f"pmu-harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


# The harness's library logs; the terminal shows its messages as they are (they already
# say "pmu-harness: ..." where that helps), warnings and progress alike.
TERMINAL_LOG_FORMAT = "%(message)s"


class _LogHandler(logging.StreamHandler[TextIO]):
    """Log lines on stderr; the status line (``harness.status``) is taken away first, so
    the two never mix (the step's next update draws it again)."""

    def emit(self, record: logging.LogRecord) -> None:
        status.clear()
        super().emit(record)


def _log_to_terminal() -> tuple[logging.Handler, int]:
    """The handler added and the harness logger's level before, to put back."""
    handler = _LogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(TERMINAL_LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    # The harness's own progress, not that of the libraries under it (paramiko's INFO
    # lines are one per SSH connection): those keep the root's WARNING.
    harness_log = logging.getLogger("harness")
    level = harness_log.level
    harness_log.setLevel(logging.INFO)
    return handler, level


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same clean-up path as Ctrl-C: every context manager unwinds and
    # reaps its processes.
    raise KeyboardInterrupt(f"signal {signum}")


def _say(text: str) -> None:
    """A last word on stderr that needs no memory to speak of and cannot raise: it is used
    when printing itself may be what failed (out of memory, a closed pipe)."""
    with contextlib.suppress(OSError, ValueError):
        os.write(2, text.encode(errors="replace") + b"\n")


def _detach_stdout() -> None:
    # The reader of stdout went away (`list | head`): later writes, and the interpreter's
    # own flush at exit, must go nowhere instead of failing with a status of their own.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _last_resort(words: list[str]) -> int:
    """``_main``, and whatever escapes it (even from its own error handlers) mapped to an
    exit code CI and ``git bisect run`` understand: never Python's own 1 or 120."""
    try:
        code = _main(words)
        sys.stdout.flush()
    except BrokenPipeError:
        _detach_stdout()
        _say("pmu-harness: the output was closed before everything was written")
        return EXIT_INFRA
    except MemoryError:
        _say("pmu-harness: out of memory (an infrastructure error, not a kernel verdict)")
        return EXIT_INFRA
    except KeyboardInterrupt:
        _say("pmu-harness: interrupted")
        return EXIT_INFRA
    except SystemExit as exc:
        return exc.code if exc.code in EXIT_CODES else EXIT_INFRA
    except BaseException as exc:  # the exit code must stay meaningful
        _say(f"pmu-harness: internal error while handling an error: {type(exc).__name__}")
        # The terminal gets the one line above; the traceback only a caller logging DEBUG.
        log.debug("internal error while handling an error", exc_info=exc)
        return EXIT_INFRA
    return code if code in EXIT_CODES else EXIT_INFRA


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    handler, level = _log_to_terminal()
    # Progress of long steps is drawn on a terminal only; elsewhere each step logs its
    # start and end.
    line = status.install(status.TerminalLine(sys.stderr) if sys.stderr.isatty()
                          else status.NoLine())
    try:
        code = _last_resort(words)
    finally:
        # Called in-process (tests, other tools), the caller's handler and logging come back.
        status.install(line).clear()
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger().removeHandler(handler)
        logging.getLogger("harness").setLevel(level)
    if code == EXIT_USAGE and "--bisect" in words:
        with contextlib.suppress(OSError, ValueError):
            print("pmu-harness: aborting the bisect: this usage error would be the same on "
                  "every commit", file=sys.stderr)
        return EXIT_ABORT_BISECT
    if code == EXIT_NOTHING_JUDGED and "--bisect" in words:
        # The scenario does not apply to this commit's kernel: skip the commit, never
        # call it good.
        with contextlib.suppress(OSError, ValueError):
            print("pmu-harness: no case was judged on this commit: skipping it (125)",
                  file=sys.stderr)
        return EXIT_INFRA
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
    args.argv = argv  # what the command was given, kept by `run` for --resume
    try:
        # Read before anything runs: a bad cap found by a worker that just built something
        # would be too late to be the usage error it is.
        budget.configured_cap()
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
    except (BrokenPipeError, MemoryError):
        raise  # not a harness bug: _last_resort says what happened
    except Exception as exc:  # last resort: a harness bug must not read as "bad kernel"
        traceback.print_exc()
        # Printed above as Python prints it; as a record only for a caller logging DEBUG.
        log.debug("internal error (a harness bug)", exc_info=exc)
        print("pmu-harness: internal error (a harness bug, not a kernel verdict)",
              file=sys.stderr)
        return EXIT_INFRA


if __name__ == "__main__":
    sys.exit(main())
