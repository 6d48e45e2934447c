"""Issue 13's table: what a case, an L1, the nightly and a mutant cost, each beside its floor,
from one nightly run and one mutants run on this machine. Prints numbers; not a test.

    .venv/bin/python bench/speed.py                      # prime snapshots, run both, print
    .venv/bin/python bench/speed.py --from-run results/<nightly run> \\
        --from-mutants results/<mutants run>/mutants.json   # analyse earlier runs

Floors, each read from the same run's artefacts:
- probe case: the probe's own run time inside L1 (``elapsed_ms`` of each run the case made:
  its filtered run, and its control unless it shared another case's);
- linux case: one L2 boot + perf as L1 ran it (``<label>.l2-seconds`` of each run it made);
- L1 ready: the QEMU restore alone (the ``loaded`` phase of ``l1/boot-*.json``);
- nightly: the sum of every case's floor and every L1's floor, over the jobs;
- a mutant: its incremental rebuild plus its suite's floors over the jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HARNESS = str(ROOT / ".venv/bin/pmu-harness")
TIMEOUT = 4 * 3600
# Mutants after the first: the first one's rebuild also warms what the others reuse.
DEFAULT_MUTANTS = ("deny-ignored", "range-end-off-by-one", "pmceid-not-masked",
                   "cycle-counter-unfiltered")


@dataclass(frozen=True)
class Case:
    mode: str
    machine: str
    seconds: float
    floor: float


def _probe_floor(case_dir: Path) -> float:
    labels = ["filtered"]
    if not (case_dir / "control.shared-from.txt").exists():
        labels.append("control")
    total = 0.0
    for label in labels:
        path = case_dir / f"{label}.probe.json"
        if path.exists():
            with contextlib.suppress(ValueError):
                total += float(json.loads(path.read_text()).get("elapsed_ms", 0)) / 1000
    return total


def _linux_floor(case_dir: Path) -> float:
    labels = ["filtered"]
    if not (case_dir / "control.shared-from.txt").exists():
        labels.append("control")
    return sum(float((case_dir / f"{label}.l2-seconds").read_text())
               for label in labels if (case_dir / f"{label}.l2-seconds").exists())


def cases_of(run_dir: Path) -> list[Case]:
    """Every case that ran, from the ``verdict.json`` beside its artefacts (a mutants run
    writes no results.json of its own per mutant)."""
    cases = []
    for path in sorted(run_dir.glob("*/*/verdict.json")):
        result = json.loads(path.read_text())
        if result["result"] in ("skip", "error"):
            continue
        case_dir = path.parent
        floor = (_probe_floor(case_dir) if result["mode"] == "probe"
                 else _linux_floor(case_dir))
        cases.append(Case(result["mode"], result["machine"], float(result["seconds"]), floor))
    return cases


def boots_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*/l1/boot-*.json"))]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _row(figure: str, now: str, target: str, floor: str) -> str:
    return f"| {figure} | {now} | {target} | {floor} |"


def nightly_rows(run_dir: Path) -> list[str]:
    data = json.loads((run_dir / "results.json").read_text())
    meta = data["meta"]
    jobs = int(meta.get("jobs") or 1)
    cases = cases_of(run_dir)
    boots = boots_of(run_dir)
    rows = []
    for mode, target in (("probe", "0.3 s"), ("linux", "6 s")):
        mine = [c for c in cases if c.mode == mode]
        rows.append(_row(f"{mode} case, median marginal (n={len(mine)})",
                         f"{_median([c.seconds for c in mine]):.2f} s", f"<= {target}",
                         f"{_median([c.floor for c in mine]):.2f} s"))
    restored = [b for b in boots if b.get("boot") == "restored"]
    cold = [b for b in boots if b.get("boot") == "cold"]
    rows.append(_row(f"L1 ready, default settings ({len(restored)} restored, {len(cold)} cold)",
                     f"{_median([b['phases']['ready'] for b in restored]):.2f} s", "<= 1.0 s",
                     f"{_median([b['phases']['loaded'] for b in restored]):.2f} s"))
    floors = sum(c.floor for c in cases) + sum(
        b["phases"].get("loaded", b["phases"].get("marker", 0.0)) for b in boots)
    rows.append(_row(f"whole nightly ({len(data['results'])} cases, {len(boots)} L1s, "
                     f"-j {jobs})", f"{float(meta['seconds']) / 60:.1f} min", "<= 10 min",
                     f"{floors / jobs / 60:.1f} min"))
    return rows


def mutant_row(report_path: Path) -> str:
    data = json.loads(report_path.read_text())
    jobs = int(data["meta"].get("jobs") or 1)
    later = data["mutants"][1:]
    totals, floors = [], []
    for mutant in later:
        totals.append(float(mutant["build_seconds"]) + float(mutant["suite_seconds"]))
        run_dir = Path(mutant["run_dir"])
        suite_floor = sum(c.floor for c in cases_of(run_dir)) + sum(
            b["phases"].get("marker", 0.0) for b in boots_of(run_dir))
        floors.append(float(mutant["build_seconds"]) + suite_floor / jobs)
    return _row(f"mutants run, per mutant after the first (n={len(later)})",
                f"{_median(totals):.1f} s", "<= 60 s", f"{_median(floors):.1f} s")


def breakdown(run_dir: Path) -> list[str]:
    lines = ["", "per mode x machine: n, median marginal, median floor"]
    cases = cases_of(run_dir)
    for key in sorted({(c.mode, c.machine) for c in cases}):
        mine = [c for c in cases if (c.mode, c.machine) == key]
        lines.append(f"  {key[0]:5} {key[1]:11} {len(mine):4}  "
                     f"{_median([c.seconds for c in mine]):6.2f} s  "
                     f"{_median([c.floor for c in mine]):6.2f} s")
    boots = boots_of(run_dir)
    for mode in ("restored", "cold"):
        these = [b for b in boots if b.get("boot") == mode]
        if these:
            phases = sorted({p for b in these for p in b["phases"]})
            medians = ", ".join(
                f"{p} {_median([b['phases'][p] for b in these if p in b['phases']]):.2f}"
                for p in phases)
            lines.append(f"  L1 {mode} (n={len(these)}): {medians} s")
    return lines


def _run(args: list[str]) -> None:
    print("+", " ".join(args), file=sys.stderr, flush=True)
    subprocess.run(args, cwd=ROOT, check=False, timeout=TIMEOUT)


def prime(suite: str) -> None:
    """A snapshot for every kernel x machine of the suite (a nightly runner keeps its cache
    between nights: the first night saves them, the next ones restore)."""
    sys.path.insert(0, str(ROOT))
    from harness.plan import Request, make_plan

    plan = make_plan(Request(suite=suite))
    for kernel, machine in sorted({(g.kernel, g.machine) for g in plan.groups}):
        _run([HARNESS, "boot", "--kernel", kernel, "--machine", machine, "--json"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-run", type=Path, help="a finished nightly run's directory")
    parser.add_argument("--from-mutants", type=Path, help="a finished mutants.json")
    parser.add_argument("--suite", default="nightly")
    parser.add_argument("--mutant", action="append", help=f"default {DEFAULT_MUTANTS}")
    args = parser.parse_args()
    run_dir, mutants = args.from_run, args.from_mutants
    with tempfile.TemporaryDirectory() as tmp:
        if run_dir is None:
            prime(args.suite)
            out = Path(tmp) / "nightly.json"
            started = time.monotonic()
            _run([HARNESS, "run", "--suite", args.suite, "--json", str(out)])
            print(f"nightly wall: {time.monotonic() - started:.1f} s", file=sys.stderr)
            run_dir = Path(json.loads(out.read_text())["meta"]["run_dir"])
        if mutants is None:
            mutants = Path(tmp) / "mutants.json"
            command = [HARNESS, "mutants", "--json", str(mutants)]
            for name in args.mutant or DEFAULT_MUTANTS:
                command += ["--mutant", name]
            _run(command)
        print(f"nightly run: {run_dir}\nmutants report: {mutants}\n")
        print("| figure | now | target | floor |\n|---|---|---|---|")
        for row in nightly_rows(run_dir):
            print(row)
        print(mutant_row(mutants))
        print("\n".join(breakdown(run_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
