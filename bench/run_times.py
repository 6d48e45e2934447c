"""Time `pmu-harness run`: marginal time per scenario in each mode, and the whole starter set
per kernel x machine. Prints numbers; not a test (no thresholds: machines are shared).

    python bench/run_times.py --kernel debian-6.1 --machine max --machine cortex-a57
    python bench/run_times.py --from results/<run>/results.json      # analyse a past run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run(kernels: list[str], machines: list[str], modes: list[str]) -> tuple[dict[str, Any], float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        args = [sys.executable, "-m", "harness.cli", "run", str(ROOT / "testcases/scenarios"),
                "--json", str(out)]
        for flag, values in (("--kernel", kernels), ("--machine", machines), ("--mode", modes)):
            for value in values:
                args += [flag, value]
        start = time.monotonic()
        subprocess.run(args, cwd=ROOT, check=False, timeout=7200)
        wall = time.monotonic() - start
        return json.loads(out.read_text()), wall


def report(data: dict[str, Any], wall: float | None) -> None:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    per_mode: dict[str, list[float]] = defaultdict(list)
    for result in data["results"]:
        if result["result"] == "skip":
            continue
        groups[(result["kernel"], result["machine"])].append(result)
        per_mode[result["mode"]].append(float(result["seconds"]))
    print("marginal time per scenario (control + filtered run, L1 already up):")
    for mode, times in sorted(per_mode.items()):
        print(f"  {mode:6} n={len(times):3}  median {statistics.median(times):6.2f} s  "
              f"mean {statistics.mean(times):6.2f} s  max {max(times):6.2f} s")
    print("per kernel x machine (sum of cases; add one L1 cold boot, ~5-10 s):")
    for (kernel, machine), results in sorted(groups.items()):
        total = sum(float(r["seconds"]) for r in results)
        passed = sum(r["result"] == "pass" for r in results)
        print(f"  {kernel:14} {machine:11} {len(results):3} cases  {passed:3} pass  "
              f"{total:7.1f} s")
    if wall is not None:
        print(f"wall time of the whole run: {wall:.1f} s")
    elif "seconds" in data.get("meta", {}):
        print(f"wall time of the whole run: {data['meta']['seconds']} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="analyse a results.json")
    parser.add_argument("--kernel", action="append", default=[])
    parser.add_argument("--machine", action="append", default=[])
    parser.add_argument("--mode", action="append", default=[])
    args = parser.parse_args()
    if args.source:
        report(json.loads(args.source.read_text()), None)
        return
    data, wall = run(args.kernel or ["debian-6.1"], args.machine or ["max"],
                     args.mode or ["probe"])
    report(data, wall)


if __name__ == "__main__":
    main()
