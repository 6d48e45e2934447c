"""Issue 24's table: each speed target beside its floor, from one run of this script on this
machine. Prints numbers; not a test.

    .venv/bin/python bench/speed.py                 # everything (a quiet machine: ~30 min)
    .venv/bin/python bench/speed.py --only l1-ready --only qemu-in-l1    # pieces
    .venv/bin/python bench/speed.py --from-run results/<nightly run>    # an earlier nightly

Pieces (``--only``, repeatable; default all):
- ``nightly``: make sure every kernel x machine of the suite has an L1 snapshot (as a
  nightly runner that keeps its cache has from the night before), run the suite, read
  its artefacts. Linux case: its marginal time against one L2 run as L1 ran it
  (``<label>.l2-seconds`` of each run the case made; absent ones are left out), in the
  nightly and per kernel. Nightly: its wall time against the sum of every case's and
  L1's floor over the jobs.
- ``main-job``: README's main job from a fresh clone of this checkout's HEAD (commit
  first) with an empty cache
  (image sets, snapshots, pip cache) and a new venv, then once more (everything cached: its
  floor). The host's apt packages are installed already: apt's share is not in this
  figure (bench/speed_results.md says how it was measured).
- ``l1-ready``: restores of one L1 (``pmu-harness boot --json``); ready for the first case
  against the QEMU restore alone (the ``loaded`` phase).
- ``qemu-in-l1``: QEMU started with KVM (``-machine none -S``, then ``quit``) inside a
  restored debian-latest L1, against the same QEMU started without KVM (no VM made).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HARNESS = str(ROOT / ".venv/bin/pmu-harness")
TIMEOUT = 4 * 3600
PIECES = ("nightly", "main-job", "l1-ready", "qemu-in-l1")
QEMU_START_QUIT = ("echo quit | qemu-system-aarch64 -machine none -S -nodefaults "
                   "-display none -monitor stdio -accel {accel} >/dev/null")
_TOOK = re.compile(r"^(?:setup-host|main-job): (.+) took (\d+) ms$", re.M)


@dataclass(frozen=True)
class Case:
    mode: str
    kernel: str
    machine: str
    seconds: float
    floor: float | None


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _row(figure: str, now: str, target: str, floor: str) -> str:
    return f"| {figure} | {now} | {target} | {floor} |"


def _run(args: list[str], env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    return subprocess.run(args, cwd=cwd, check=False, timeout=TIMEOUT, env=env,
                          capture_output=True, text=True)


# -- nightly -------------------------------------------------------------------------------

def _linux_floor(case_dir: Path) -> float | None:
    """One L2 run per run the case made (its control unless shared); None when the L2 path
    left no timing."""
    labels = ["filtered"]
    if not (case_dir / "control.shared-from.txt").exists():
        labels.append("control")
    found = [float((case_dir / f"{label}.l2-seconds").read_text())
             for label in labels if (case_dir / f"{label}.l2-seconds").exists()]
    return sum(found) if found else None


def _probe_floor(case_dir: Path) -> float:
    labels = ["filtered"]
    if not (case_dir / "control.shared-from.txt").exists():
        labels.append("control")
    total = 0.0
    for label in labels:
        path = case_dir / f"{label}.probe.json"
        if path.exists():
            try:
                total += float(json.loads(path.read_text()).get("elapsed_ms", 0)) / 1000
            except ValueError:
                continue
    return total


def cases_of(run_dir: Path) -> list[Case]:
    cases = []
    for path in sorted(run_dir.glob("*/*/verdict.json")):
        result = json.loads(path.read_text())
        if result["result"] in ("skip", "error"):
            continue
        floor = (_probe_floor(path.parent) if result["mode"] == "probe"
                 else _linux_floor(path.parent))
        cases.append(Case(result["mode"], str(result.get("kernel", "?")), result["machine"],
                          float(result["seconds"]), floor))
    return cases


def boots_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*/l1/boot-*.json"))]


def _floors(cases: list[Case]) -> list[float]:
    return [c.floor for c in cases if c.floor is not None]


def linux_rows(cases: list[Case], suite: str) -> list[str]:
    linux = [c for c in cases if c.mode == "linux"]
    rows = [_row(f"linux case, median marginal, in the {suite} run (n={len(linux)})",
                 f"{_median([c.seconds for c in linux]):.2f} s", "<= 5 s",
                 f"{_median(_floors(linux)):.2f} s")]
    for kernel in sorted({c.kernel for c in linux}):
        mine = [c for c in linux if c.kernel == kernel]
        rows.append(_row(f"linux case on {kernel} (n={len(mine)})",
                         f"{_median([c.seconds for c in mine]):.2f} s", "<= 8 s",
                         f"{_median(_floors(mine)):.2f} s"))
    return rows


def nightly_rows(run_dir: Path) -> list[str]:
    data = json.loads((run_dir / "results.json").read_text())
    jobs = int(data["meta"].get("jobs") or 1)
    cases, boots = cases_of(run_dir), boots_of(run_dir)
    floors = sum(_floors(cases)) + sum(
        b["phases"].get("loaded", b["phases"].get("marker", 0.0)) for b in boots)
    suite = str(data["meta"].get("suite") or "?")
    return [*linux_rows(cases, suite),
            _row(f"{suite} run ({len(data['results'])} cases, {len(boots)} L1s, -j {jobs})",
                 f"{float(data['meta']['seconds']) / 60:.1f} min", "<= 6 min",
                 f"{floors / jobs / 60:.1f} min"),
            *ready_rows(boots, f"in the {suite} run")]


def run_nightly(suite: str) -> Path:
    from harness.plan import Request, make_plan

    plan = make_plan(Request(suite=suite))
    for kernel, machine in sorted({(g.kernel, g.machine) for g in plan.groups}):
        _run([HARNESS, "boot", "--kernel", kernel, "--machine", machine, "--json"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "nightly.json"
        _run([HARNESS, "run", "--suite", suite, "--json", str(out)])
        return Path(json.loads(out.read_text())["meta"]["run_dir"])


# -- L1 ready ------------------------------------------------------------------------------

def ready_rows(boots: list[dict[str, Any]], where: str) -> list[str]:
    restored = [b["phases"] for b in boots if b.get("boot") == "restored"]
    if not restored:
        return []
    phases = sorted({p for b in restored for p in b}, key=lambda p: _median(
        [b[p] for b in restored if p in b]))
    detail = ", ".join(f"{p} {_median([b[p] for b in restored if p in b]):.2f}"
                       for p in phases)
    return [_row(f"L1 ready after restore, {where} (n={len(restored)}; {detail})",
                 f"{_median([b['ready'] for b in restored]):.2f} s", "<= 1.0 s",
                 f"{_median([b['loaded'] for b in restored if 'loaded' in b]):.2f} s")]


def measure_l1_ready(kernel: str, machine: str, count: int) -> list[str]:
    boots = []
    for _ in range(count + 1):  # the first may be the cold boot that saves the snapshot
        done = _run([HARNESS, "boot", "--kernel", kernel, "--machine", machine, "--json"])
        if done.returncode == 0:
            report = json.loads(done.stdout)
            boots.append({"boot": report["boot"], "phases": report["boot_phases"]})
    return ready_rows(boots, f"{kernel} on {machine}")


# -- QEMU inside L1 ------------------------------------------------------------------------

def measure_qemu_in_l1(kernel: str, count: int) -> list[str]:
    from harness.images import build_image_set
    from harness.machine import L1Machine, load_machine_profile
    from harness.paths import new_run_dir

    images = build_image_set(kernel, progress=False)
    seconds: dict[str, list[float]] = {"kvm": [], "tcg": []}
    with L1Machine(images, load_machine_profile("max"),
                   new_run_dir(f"speed-qemu-{kernel}")) as l1:
        # Once each first: QEMU's binary and libraries into L1's page cache.
        for accel in ("kvm", "tcg"):
            l1.ssh.run(QEMU_START_QUIT.format(accel=accel), timeout=120, check=True)
        for _ in range(count):
            for accel in ("kvm", "tcg"):
                result = l1.ssh.run(QEMU_START_QUIT.format(accel=accel), timeout=120,
                                    check=True)
                seconds[accel].append(result.seconds)
        cmdline = l1.ssh.run("cat /proc/cmdline", timeout=30).stdout.strip()
    return [_row(f"QEMU start+quit with KVM inside the {kernel} L1 (n={count}; "
                 f"L1 command line: {cmdline})",
                 f"{_median(seconds['kvm']):.2f} s", "<= 2 s",
                 f"{_median(seconds['tcg']):.2f} s (no KVM)")]


# -- main job ------------------------------------------------------------------------------

def _main_job(clone: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    # README's command as it stands (its default -j).
    done = _run(["scripts/main-job.sh"], env=env, cwd=clone)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    return seconds, done.stdout + done.stderr


def measure_main_job() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="speed-main-job-") as tmp:
        clone, cache = Path(tmp) / "clone", Path(tmp) / "cache"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True,
                       timeout=600)
        env = {**os.environ, "XDG_CACHE_HOME": str(cache),
               "PIP_CACHE_DIR": str(cache / "pip")}
        fresh, output = _main_job(clone, env)
        again, _ = _main_job(clone, env)
    steps = ", ".join(f"{what} {int(ms) / 1000:.1f} s" for what, ms in _TOOK.findall(output))
    return [_row(f"README main job, fresh clone and cache, apt packages installed ({steps})",
                 f"{fresh / 60:.2f} min", "<= 2 min",
                 f"{again / 60:.2f} min (run again: all cached)")]


# -- main ----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=PIECES,
                        help="measure only this piece (repeatable; default: all)")
    parser.add_argument("--from-run", type=Path, help="a finished nightly run's directory")
    parser.add_argument("--suite", default="nightly")
    parser.add_argument("--restores", type=int, default=5, help="L1 restores to time")
    parser.add_argument("--repeat", type=int, default=5, help="QEMU starts to time")
    args = parser.parse_args()
    # An earlier run to analyse: that alone unless pieces are named.
    pieces = set(args.only or (("nightly",) if args.from_run is not None else PIECES))
    if args.from_run is not None:
        pieces.add("nightly")
    measures: dict[str, Callable[[], list[str]]] = {
        "main-job": measure_main_job,
        # max is the default machine (VHE: the timer re-arm); cortex-a57 (nVHE) needs none.
        "l1-ready": lambda: [row for machine in ("max", "cortex-a57")
                             for row in measure_l1_ready("debian-6.1", machine, args.restores)],
        "qemu-in-l1": lambda: measure_qemu_in_l1("debian-latest", args.repeat),
        "nightly": lambda: nightly_rows(args.from_run or run_nightly(args.suite)),
    }
    rows = [row for piece in PIECES if piece in pieces for row in measures[piece]()]
    print("| figure | now | target | floor |\n|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
