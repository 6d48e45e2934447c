"""The long fuzz run: at least 100,000 inputs into every reader of outside input.

Prints, per target and in total: inputs, how many were refused with a located usage error,
tracebacks (anything else; must be 0), the peak RSS of the process and the slowest input.

    .venv/bin/python -m bench.fuzz_inputs [--inputs 100000] [--seed N]

The generator and the targets are those of the unit suite's quick run (tests/fuzz.py).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz import SEED, TARGETS, Tally, run_target

# How the inputs are shared out: the scenario front end is the largest surface.
SHARES = {"scenario": 0.6, "filterfile": 0.2, "results": 0.1, "bundle": 0.1}


def _work_dir() -> str | None:
    # Inputs are written to files: on tmpfs that costs microseconds, not disk seeks.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def _report(name: str, tally: Tally, seconds: float) -> None:
    took, _, data = tally.slowest
    print(f"{name:<10} inputs {tally.inputs:>7}  refused {tally.refused:>7}  "
          f"tracebacks {len(tally.tracebacks):>3}  {seconds:6.1f} s  "
          f"slowest {took * 1000:6.1f} ms ({len(data)} bytes: {data[:50]!r})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    total = Tally()
    for target in TARGETS:
        tally = Tally()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=_work_dir()) as work:
            run_target(target, int(args.inputs * SHARES[target.name]), Path(work), tally,
                       args.seed)
        _report(target.name, tally, time.monotonic() - started)
        total.inputs += tally.inputs
        total.refused += tally.refused
        total.tracebacks += tally.tracebacks
        total.slowest = max(total.slowest, tally.slowest, key=lambda s: s[0])
    for name, data, trace in total.tracebacks[:5]:
        print(f"--- {name}: {data[:200]!r}\n{trace}", file=sys.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    took, where, data = total.slowest
    print(f"total: {total.inputs} inputs, {total.refused} refused, "
          f"{len(total.tracebacks)} tracebacks, peak RSS {peak_mib:.0f} MiB, slowest input "
          f"{took * 1000:.0f} ms ({where}, {len(data)} bytes)")
    return 1 if total.tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
