"""Mutation testing figures: time per mutant (incremental rebuild + suite), the whole run,
the mutation score, and which scenario killed which mutant.

    .venv/bin/python bench/mutants.py [--suite mutants | --all] [--report mutants.json]

Without ``--report`` it runs ``pmu-harness mutants --suite S --json ...`` (the mutants of
that suite; ``--all``: every mutant on its own suite) and reads what it wrote; with
``--report`` it reads a report an earlier run wrote. Prints medians (and min/max) over the
mutants, and one line per mutant with its suite and the scenarios that killed it. The
figures of a run on this machine: bench/mutants_results.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 4 * 3600


def _run(which: list[str], out: Path) -> None:
    subprocess.run([str(ROOT / ".venv/bin/pmu-harness"), "mutants", *which,
                    "--json", str(out)], cwd=ROOT, timeout=TIMEOUT, check=False)


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"median {statistics.median(values):.1f} s (min {min(values):.1f}, "
            f"max {max(values):.1f})")


def _scenarios(mutant: dict[str, Any]) -> str:
    names = sorted({str(n).split("[")[0] + "[" + str(n).split("[")[1].split(",")[0] + "]"
                    for n in mutant["killed_by"]})
    return ", ".join(names) or "-"


def report(data: dict[str, Any]) -> str:
    mutants = data["mutants"]
    build = [float(m["build_seconds"]) for m in mutants]
    suite = [float(m["suite_seconds"]) for m in mutants]
    total = [b + s for b, s in zip(build, suite, strict=True)]
    meta = data.get("meta", {})
    suites = meta.get("suites") or [meta.get("suite")]
    lines = [
        f"suite(s) {', '.join(map(str, suites))}: {len(mutants)} mutants; unmutated "
        f"{meta.get('unmutated_cases')} cases in {meta.get('unmutated_seconds')} s; whole run "
        f"{meta.get('seconds')} s",
        f"rebuild per mutant: {_spread(build)}",
        f"suite per mutant:   {_spread(suite)}",
        f"per mutant (both):  {_spread(total)}",
        data["summary"],
        "",
    ]
    lines += [f"{m['name']:<28} {m.get('suite') or meta.get('suite')!s:<14} "
              f"{m['status']:<9} {_scenarios(m)}" for m in mutants]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="mutants")
    parser.add_argument("--all", action="store_true", help="every mutant on its own suite")
    parser.add_argument("--report", type=Path, help="read this mutants JSON instead of running")
    args = parser.parse_args()
    if args.report is None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "mutants.json"
            _run(["--all"] if args.all else ["--suite", args.suite], out)
            if not out.is_file():
                print("the mutants run wrote no report", file=sys.stderr)
                return 1
            data = json.loads(out.read_text())
    else:
        data = json.loads(args.report.read_text())
    print(report(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
