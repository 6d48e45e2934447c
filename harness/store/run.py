"""Run host tools: always with a timeout, always with an error that says what failed."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import InfraError

TAIL_LINES = 30


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def run(
    command: Sequence[str | Path],
    *,
    timeout: float,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | None = subprocess.PIPE,
) -> str:
    """Run ``command``; return its stdout. Any failure is an ``InfraError`` naming ``what``."""
    argv = tuple(str(part) for part in command)
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise InfraError(f"{what}: host tool {argv[0]!r} is not installed", command=argv) from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"{what}: timed out after {timeout:.0f} s", command=argv) from exc
    if done.returncode != 0:
        raise InfraError(
            f"{what}: exit status {done.returncode}",
            command=argv,
            log_tail=tail((done.stdout or "") + done.stderr),
        )
    return done.stdout or ""
