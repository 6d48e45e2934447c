"""Run the kernel's ``make`` for arm64 with the cross compiler and ccache, reproducibly.

Every run has a deadline; on timeout or Ctrl-C the whole make process group is killed and
reaped. The full output goes to the build log; a failure carries the log's tail and path.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from harness.errors import InfraError
from harness.paths import cache_dir

if TYPE_CHECKING:
    from harness.kbuild.progress import Progress
    from harness.kbuild.workspace import Workspace

CROSS_COMPILE = "aarch64-linux-gnu-"
COMPILER = f"{CROSS_COMPILE}gcc"
TAIL_LINES = 40
OBJECT_LINE = re.compile(r"^\s+(CC|AS|LD|AR)\s")
# Reproducible builds (facts.md §5): the same inputs give the same Image on every host, so
# `rerun` can rebuild a bundle's kernel and check its SHA-256.
REPRODUCIBLE = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 2026",
    "KBUILD_BUILD_USER": "pmu-harness",
    "KBUILD_BUILD_HOST": "pmu-harness",
    "KBUILD_BUILD_VERSION": "1",
    "LC_ALL": "C",
    "TZ": "UTC",
}


@dataclass(frozen=True)
class Toolchain:
    compiler: str
    version: str       # first line of `gcc --version`: part of every build key
    ccache: str | None

    @classmethod
    def detect(cls) -> Toolchain:
        path = shutil.which(COMPILER)
        if path is None:
            raise InfraError(f"{COMPILER} is not installed (apt-get install gcc-aarch64-linux-gnu)")
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise InfraError(f"{COMPILER} --version failed: {exc}") from exc
        return cls(COMPILER, out.splitlines()[0] if out else "?", shutil.which("ccache"))

    def make_variables(self) -> list[str]:
        compiler = f"ccache {self.compiler}" if self.ccache else self.compiler
        return ["ARCH=arm64", f"CROSS_COMPILE={CROSS_COMPILE}", f"CC={compiler}"]


# What a kernel build needs beyond the cross compiler and make (the main job installs none
# of it: scripts/setup-host.sh --kernel-builds does): programs, and headers by a file each.
BUILD_PROGRAMS = {"bison": "bison", "flex": "flex", "bc": "bc", "patch": "patch"}
BUILD_HEADERS = {"/usr/include/openssl/ssl.h": "libssl-dev", "/usr/include/gelf.h": "libelf-dev"}


def check_build_tools() -> None:
    """An InfraError naming every missing kernel-build tool and how to install them."""
    missing = [package for program, package in BUILD_PROGRAMS.items()
               if shutil.which(program) is None]
    missing += [package for header, package in BUILD_HEADERS.items()
                if not Path(header).is_file()]
    if missing:
        raise InfraError(f"building a kernel needs {', '.join(missing)}: run "
                         f"scripts/setup-host.sh --kernel-builds (or apt-get install "
                         f"{' '.join(missing)})")


def build_env(workspace: Workspace, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **REPRODUCIBLE,
           "CCACHE_DIR": str(cache_dir() / "ccache"),
           # Paths below the workspace are hashed relative to it: a fresh workspace (another
           # tree version's, or after `images clean`) still hits the cache.
           "CCACHE_BASEDIR": str(workspace.directory),
           "CCACHE_NOHASHDIR": "1"}
    env.pop("MAKEFLAGS", None)
    return {**env, **(extra or {})}


def make(workspace: Workspace, toolchain: Toolchain, targets: list[str], *, log: IO[str],
         timeout: float, log_path: Path | None = None, progress: Progress | None = None,
         extra_env: dict[str, str] | None = None) -> None:
    check_build_tools()
    jobs = max(1, len(os.sched_getaffinity(0)))
    command = ["make", "-C", str(workspace.src), f"O={workspace.out}",
               *toolchain.make_variables(), f"-j{jobs}", *targets]
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=build_env(workspace, extra_env),
                               start_new_session=True)
    tail: list[str] = []
    reader = threading.Thread(target=_pump, args=(process, log, tail, progress), daemon=True)
    reader.start()
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        reader.join(timeout=10)
        raise InfraError(f"make {' '.join(targets)} timed out after {timeout:.0f} s",
                         log_tail="\n".join(tail), log_path=log_path) from None
    except BaseException:
        # Ctrl-C or a signal turned into an exception: no compiler may outlive us.
        _kill(process)
        reader.join(timeout=10)
        raise
    reader.join(timeout=30)
    if status != 0:
        raise InfraError(f"make {' '.join(targets)} failed (exit status {status})",
                         log_tail="\n".join(tail), log_path=log_path or Path(log.name))


def _pump(process: subprocess.Popen[str], log: IO[str], tail: list[str],
          progress: Progress | None) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        log.write(line)
        tail.append(line.rstrip("\n"))
        del tail[:-TAIL_LINES]
        if progress is not None and OBJECT_LINE.match(line):
            progress.object_built()
    log.flush()


def _kill(process: subprocess.Popen[str]) -> None:
    """The whole make tree (compilers included), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
