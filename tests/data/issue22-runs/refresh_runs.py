"""Refresh these captures from a real run's artefacts, unchanged:

    pmu-harness run testcases/scenarios/pmccfiltr-event-allowed.yaml \\
        testcases/scenarios/pmccfiltr-event-denied.yaml \\
        testcases/scenarios/event-number-masked-allow.yaml \\
        testcases/scenarios/event-number-masked-deny.yaml \\
        testcases/scenarios/event-number-masked-sw-incr.yaml \\
        testcases/scenarios/event-number-kept-on-max.yaml \\
        --kernel filter-v1 --kernel filter-v2 --kernel filter-v3 \\
        --machine max --machine cortex-a57 -j 1
    python tests/data/issue22-runs/refresh_runs.py results/<that run>

Each case of CASES is copied from its own kernel x machine group of that run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (scenario, kernel profile, machine): the kernels on either side of each behaviour.
CASES = (
    ("pmccfiltr-event-allowed", "filter-v1", "max"),
    ("pmccfiltr-event-allowed", "filter-v3", "max"),
    ("pmccfiltr-event-denied", "filter-v1", "max"),
    ("pmccfiltr-event-denied", "filter-v3", "max"),
    ("event-number-masked-allow", "filter-v2", "cortex-a57"),
    ("event-number-masked-allow", "filter-v3", "cortex-a57"),
    ("event-number-masked-deny", "filter-v3", "cortex-a57"),
    ("event-number-masked-sw-incr", "filter-v2", "cortex-a57"),
    ("event-number-masked-sw-incr", "filter-v3", "cortex-a57"),
    ("event-number-kept-on-max", "filter-v3", "max"),
)


def main(run_dir: Path) -> int:
    for ident, kernel, machine in CASES:
        case_dir = run_dir / f"{kernel}-{machine}" / f"{ident}-probe"
        target = HERE / ident
        target.mkdir(exist_ok=True)
        for label in ("filtered", "control"):
            shutil.copyfile(case_dir / f"{label}.probe.json",
                            target / f"{kernel}-{machine}.{label}.json")
        shutil.copyfile(case_dir / "filtered.filter", target / "filtered.flt")
        print(f"{ident}/{kernel}-{machine}: from {case_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
