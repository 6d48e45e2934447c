"""Linux mode's case time: L2 restored from its snapshot against L2 booted per run, and the
small L2 kernel against the L1's own Debian kernel, per Debian kernel. Prints numbers; not
a test. Timings are of whole runs on this machine: noisy when anything else runs.

    .venv/bin/python bench/l2_restore.py                       # every Debian kernel, 3 runs
    .venv/bin/python bench/l2_restore.py --kernel debian-6.1 --repeat 5
    .venv/bin/python bench/l2_restore.py --from-run results/<run> ...   # analyse runs

Each (kernel, way) is one ``pmu-harness run`` of the linux-mode scenarios given (default:
the masking ones and filter-seen-from-vcpu1), on max, ``-j 1``, repeated. Read from each
run's artefacts:
- case: the case's whole time (``seconds`` in verdict.json);
- L2 run: what L1 took to run L2 for one run (``<label>.l2-seconds``: restore or boot, and
  perf), per run a case made (its filtered run, and its control unless shared);
- restore: in a restored run, from QEMU's start in L1 to the restored L2's first prompt
  (L1's uptime at each, ``PMU-HARNESS-L1-UPTIME`` lines of ``<label>.l2-console.stdout``);
- snapshot: what an L1 spent once for every linux case after it (``l2-snapshot-<n>.seconds``
  in the group's directory: one L2 boot and its save).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(ROOT / ".venv/bin/pmu-harness")
KERNELS = ("debian-5.10", "debian-6.1", "debian-6.12", "debian-latest")
WAYS = {
    "small-restore": ["--l2-kernel", "small", "--l2-restore"],
    "small-boot": ["--l2-kernel", "small", "--l2-boot"],
    "distro-boot": ["--l2-kernel", "distro", "--l2-boot"],
}
SCENARIOS = ("testcases/scenarios/member-allow.yaml", "testcases/scenarios/member-deny.yaml",
             "testcases/scenarios/filter-seen-from-vcpu1.yaml")
TIMEOUT = 3 * 3600
L1_UPTIME = re.compile(r"^PMU-HARNESS-L1-UPTIME (\w+) ([\d.]+)", re.MULTILINE)


@dataclass(frozen=True)
class Figures:
    cases: list[float]
    l2_runs: list[float]
    restores: list[float]
    snapshots: list[float]
    verdicts: dict[str, str]


def _restore_seconds(console: Path) -> float | None:
    stamps = dict(L1_UPTIME.findall(console.read_text())) if console.exists() else {}
    if "start" in stamps and "answered" in stamps:
        return float(stamps["answered"]) - float(stamps["start"])
    return None


def figures(run_dir: Path) -> Figures:
    cases, l2_runs, restores, verdicts = [], [], [], {}
    for path in sorted(run_dir.glob("*/*/verdict.json")):
        result = json.loads(path.read_text())
        if result["mode"] != "linux":
            continue
        verdicts[result["name"]] = result["result"]
        cases.append(float(result["seconds"]))
        shared = (path.parent / "control.shared-from.txt").exists()
        for label in ("filtered",) if shared else ("filtered", "control"):
            seconds = path.parent / f"{label}.l2-seconds"
            if seconds.exists():
                l2_runs.append(float(seconds.read_text()))
            restore = _restore_seconds(path.parent / f"{label}.l2-console.stdout")
            if restore is not None:
                restores.append(restore)
    snapshots = [float(p.read_text()) for p in sorted(run_dir.glob("*/l2-snapshot-*.seconds"))]
    return Figures(cases, l2_runs, restores, snapshots, verdicts)


def run(kernel: str, way: str, scenarios: list[str]) -> Path:
    command = [HARNESS, "run", *scenarios, "--kernel", kernel, "--machine", "max",
               "--mode", "linux", "-j", "1", *WAYS[way]]
    print("+", " ".join(command), file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    for line in done.stderr.splitlines():
        if "artefacts in " in line:
            return Path(line.rsplit("artefacts in ", 1)[1].strip())
    raise SystemExit(f"no run directory in:\n{done.stderr[-3000:]}")


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def table(rows: dict[tuple[str, str], list[Figures]]) -> None:
    print("| kernel | L2 | runs | cases | case median s | L2 run median s | "
          "restore median s | snapshot s (per L1) | verdicts |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (kernel, way), runs in rows.items():
        cases = [c for f in runs for c in f.cases]
        l2 = [s for f in runs for s in f.l2_runs]
        snaps = [s for f in runs for s in f.snapshots]
        restores = [s for f in runs for s in f.restores]
        verdicts = sorted({v for f in runs for v in f.verdicts.values()})
        print(f"| {kernel} | {way} | {len(runs)} | {len(cases)} | {_median(cases)} | "
              f"{_median(l2)} | {_median(restores)} | {_median(snaps)} | "
              f"{', '.join(verdicts)} |")


def same_verdicts(rows: dict[tuple[str, str], list[Figures]]) -> None:
    """Whether every way gave each case the same verdict, per kernel."""
    for kernel in sorted({k for k, _ in rows}):
        seen: dict[str, set[str]] = {}
        for (other, _way), runs in rows.items():
            if other != kernel:
                continue
            for f in runs:
                for name, verdict in f.verdicts.items():
                    seen.setdefault(name, set()).add(verdict)
        differ = {name: v for name, v in seen.items() if len(v) > 1}
        print(f"{kernel}: {'same verdicts every way' if not differ else f'DIFFER: {differ}'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", action="append", choices=KERNELS)
    parser.add_argument("--way", action="append", choices=tuple(WAYS))
    parser.add_argument("--scenario", action="append")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--from-run", action="append", default=[],
                        metavar="KERNEL:WAY:RUN_DIR", help="analyse an earlier run")
    args = parser.parse_args()
    rows: dict[tuple[str, str], list[Figures]] = {}
    for given in args.from_run:
        kernel, way, directory = str(given).split(":", 2)
        rows.setdefault((kernel, way), []).append(figures(Path(directory)))
    if not args.from_run:
        for kernel in args.kernel or KERNELS:
            for way in args.way or tuple(WAYS):
                for _ in range(args.repeat):
                    run_dir = run(kernel, way, args.scenario or list(SCENARIOS))
                    print(f"  {kernel} {way}: {run_dir}", file=sys.stderr, flush=True)
                    rows.setdefault((kernel, way), []).append(figures(run_dir))
    table(rows)
    same_verdicts(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
