"""Source kernel build times: cold, cache hit, incremental rebuild after one edited patch,
a switch between revisions, and a fresh workspace with a warm ccache.

    .venv/bin/python bench/kernel_build.py [--cache DIR] [--runs N] [--profile filter-v3]

``--cache`` defaults to a fresh directory, so the first build is cold (no tree, no ccache);
give the real cache (``~/.cache``) to measure only the warm figures. Every figure is the
median of ``--runs`` runs (the cold build runs once). Prints a table; the figures of a run
on this machine are in bench/kernel_results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TIMEOUT = 7200
ROOT = Path(__file__).resolve().parent.parent
PMU_EMUL = "arch/arm64/kvm/pmu-emul.c"
FIRST_LINES = ("// SPDX-License-Identifier: GPL-2.0-only", "/*",
               " * Copyright (C) 2015 Linaro Ltd.")


def build(cache: Path, *args: str) -> tuple[float, dict[str, object]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "images", "build", "--quiet",
                           *args], env=env, check=True, timeout=TIMEOUT, cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    match = re.search(r"build log: (\S+)/build\.log", proc.stdout)
    manifest = json.loads(Path(match[1], "manifest.json").read_text()) if match else {}
    return seconds, manifest


def one_patch_series(directory: Path, comment: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "0001-bench.patch").write_text(
        f"Subject: [PATCH] bench\n\n---\n--- a/{PMU_EMUL}\n+++ b/{PMU_EMUL}\n"
        f"@@ -1,3 +1,4 @@\n {FIRST_LINES[0]}\n+{comment}\n {FIRST_LINES[1]}\n"
        f" {FIRST_LINES[2]}\n")
    return directory


def median_of(runs: int, step: Callable[[int], float]) -> tuple[float, float, float]:
    values = [step(i) for i in range(runs)]
    return min(values), statistics.median(values), max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, help="cache root (default: a fresh temp dir)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default="filter-v3")
    parser.add_argument("--other", default="filter-v2",
                        help="a profile of the same tree to switch to and back")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="pmu-kbuild-bench-"))
    scratch = Path(tempfile.mkdtemp(prefix="pmu-kbuild-series-"))
    rows: list[tuple[str, str]] = []

    seconds, manifest = build(cache, "--kernel", args.profile)
    rows.append((f"first build of {args.profile} (this cache)", f"{seconds:.1f} s "
                 f"(build itself {manifest.get('seconds', '?')} s)"))
    low, mid, high = median_of(args.runs, lambda i: build(cache, "--kernel", args.profile)[0])
    rows.append(("cache hit (images build, whole command)", f"{mid:.2f} s [{low:.2f}-{high:.2f}]"))

    def edited(i: int) -> float:
        series = one_patch_series(scratch / f"edit{i}", f"/* bench edit {i} {time.time()} */")
        return build(cache, "--kernel", args.profile, "--series", str(series))[0]

    low, mid, high = median_of(args.runs, edited)
    rows.append(("one edited patch (pmu-emul.c), incremental", f"{mid:.1f} s "
                 f"[{low:.1f}-{high:.1f}]"))

    def switched(i: int) -> float:
        shutil.rmtree(cache / "pmu-harness" / "kernels", ignore_errors=True)
        shutil.rmtree(cache / "pmu-harness" / "images", ignore_errors=True)
        return build(cache, "--kernel", args.other if i % 2 == 0 else args.profile)[0]

    low, mid, high = median_of(args.runs, switched)
    rows.append((f"switch {args.profile} <-> {args.other} (uncached)", f"{mid:.1f} s "
                 f"[{low:.1f}-{high:.1f}]"))

    def fresh_workspace(i: int) -> float:
        shutil.rmtree(cache / "pmu-harness" / "kernels", ignore_errors=True)
        shutil.rmtree(cache / "pmu-harness" / "kbuild", ignore_errors=True)
        return build(cache, "--kernel", args.profile)[0]

    low, mid, high = median_of(max(1, args.runs - 1), fresh_workspace)
    rows.append(("fresh workspace, warm ccache", f"{mid:.1f} s [{low:.1f}-{high:.1f}]"))
    width = max(len(r[0]) for r in rows)
    print(f"source kernel builds on {os.cpu_count()} cores, cache {cache}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
