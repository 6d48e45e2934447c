"""How long a review of one series takes once its kernels are built (issue 21's target:
under 3 minutes on 2 cores), and where the time goes (builds found in the cache, each
kernel's cases).

    .venv/bin/python bench/review.py [--runs N] [--base filter-base]
        [--series tests/data/review/v3.mbx] [--against tests/data/review/v2.mbx]

The first run builds what is missing (not counted when --runs > 1: it is reported apart).
Prints each run's whole-process time and its phases (from the review's own progress
lines), then min/median/max; bench/review_results.md has a run on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 7200
PHASE = re.compile(r"^pmu-harness: (?P<label>.+): (?P<cases>\d+) case\(s\) in (?P<s>\d+) s$",
                   re.MULTILINE)


def one(args: argparse.Namespace, results: Path) -> tuple[float, int, list[str]]:
    command = [sys.executable, "-m", "harness.cli", "review", args.series, "--base",
               args.base, *(["--against", args.against] if args.against else [])]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False,
                          env={**os.environ, "PMU_HARNESS_RESULTS": str(results)})
    seconds = time.monotonic() - started
    phases = [f"{m['label']}: {m['cases']} cases in {m['s']} s"
              for m in PHASE.finditer(proc.stderr)]
    return seconds, proc.returncode, phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", default="filter-base")
    parser.add_argument("--series", default="tests/data/review/v3.mbx")
    parser.add_argument("--against")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as scratch:
        warm, code, phases = one(args, Path(scratch))
        print(f"first run (builds what is missing): {warm:.1f} s, exit {code}; "
              + "; ".join(phases))
        times = []
        for number in range(1, args.runs):
            seconds, code, phases = one(args, Path(scratch))
            times.append(seconds)
            print(f"run {number}: {seconds:.1f} s, exit {code}; " + "; ".join(phases))
    if times:
        print(f"review, builds cached: min {min(times):.1f} s, median "
              f"{statistics.median(times):.1f} s, max {max(times):.1f} s "
              f"({len(times)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
