"""A build workspace: a source tree and its ``O=`` directory, reused across builds that
share a tree, fragments, options and compiler (the *configuration key*).

The source tree starts as a hard-linked copy of the pristine tree (seconds, no extra disk).
A series changes it by *replacing* files (write a new file, rename it over the old link),
so the pristine tree is never written. Between builds only the files whose content really
changes are replaced: ``make`` then rebuilds what depends on them and nothing else, which is
what makes one edited patch (or one mutant) an incremental rebuild of seconds.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import InfraError

STATE = "state.json"
COPY_TIMEOUT = 1800.0


class Workspace:
    def __init__(self, directory: Path, pristine: Path) -> None:
        self.directory = directory
        self.pristine = pristine
        self.src = directory / "src"
        self.out = directory / "out"
        self.logs = directory / "logs"
        self._state = directory / STATE

    def prepare(self) -> None:
        """The source copy exists and is known to match pristine + the recorded series."""
        if self._read_state() is None or not (self.src / "Makefile").is_file():
            shutil.rmtree(self.src, ignore_errors=True)
            self._copy_pristine()
            self._write_state([])
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)

    def _copy_pristine(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / "src.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        # Hard links when the cache and the tree share a filesystem; a copy otherwise.
        # .git is left out: a user's checkout may carry gigabytes of history.
        for command in (["cp", "-al", str(self.pristine), str(tmp)],
                        ["cp", "-a", "--reflink=auto", str(self.pristine), str(tmp)]):
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                done = subprocess.run(command, capture_output=True, text=True,
                                      timeout=COPY_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise InfraError(f"copying the source tree: {exc}") from exc
            if done.returncode == 0:
                break
        else:
            raise InfraError(f"copying {self.pristine} to {tmp} failed: {done.stderr[-2000:]}")
        shutil.rmtree(tmp / ".git", ignore_errors=True)
        tmp.rename(self.src)

    def _read_state(self) -> list[str] | None:
        try:
            state = json.loads(self._state.read_text())
        except (OSError, ValueError):
            return None
        touched = state.get("touched") if isinstance(state, dict) else None
        if not isinstance(touched, list) or not all(isinstance(p, str) for p in touched):
            return None
        return touched

    def _write_state(self, touched: list[str]) -> None:
        tmp = self._state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"touched": sorted(touched)}) + "\n")
        tmp.replace(self._state)

    def sync(self, staging: Path, touched: list[str]) -> list[str]:
        """Make ``src`` equal pristine + the series whose result is in ``staging``; return
        the files that changed (their mtimes are what ``make`` rebuilds from)."""
        previous = self._read_state() or []
        union = sorted(set(previous) | set(touched))
        # Record the superset first: if we die half-way, the next sync still knows every
        # file that may differ from pristine.
        self._write_state(union)
        wanted = set(touched)
        changed = [path for path in union
                   if self._settle(path, staging if path in wanted else self.pristine)]
        self._write_state(touched)
        return changed

    def _settle(self, relative: str, origin_root: Path) -> bool:
        """Make ``src/relative`` a copy of ``origin_root/relative`` (or absent); True when
        anything had to change."""
        origin, target = origin_root / relative, self.src / relative
        if not origin.exists():
            if target.exists() or target.is_symlink():
                target.unlink()
                return True
            return False
        if target.is_file() and filecmp.cmp(origin, target, shallow=False):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.pmu-harness-{os.getpid()}")
        shutil.copyfile(origin, tmp)
        shutil.copymode(origin, tmp)
        tmp.replace(target)  # a new inode: the pristine tree behind the old link is untouched
        return True
