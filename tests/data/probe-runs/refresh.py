"""Refresh these captures from a real run's artefacts, unchanged:

    pmu-harness run testcases/scenarios/<each directory here>.yaml \\
        --kernel debian-5.10 --kernel debian-6.1 --kernel debian-6.12 \\
        --machine max --machine cortex-a57
    python tests/data/probe-runs/refresh.py results/<that run>

Only the captures already here are replaced (each from its own kernel x machine group).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(run_dir: Path) -> int:
    for capture in sorted(HERE.glob("*/*.filtered.json")):
        ident = capture.parent.name
        kernel_machine = capture.name.removesuffix(".filtered.json")
        case_dir = run_dir / f"debian-{kernel_machine}" / f"{ident}-probe"
        for label in ("filtered", "control"):
            shutil.copyfile(case_dir / f"{label}.probe.json",
                            capture.parent / f"{kernel_machine}.{label}.json")
        shutil.copyfile(case_dir / "filtered.filter", capture.parent / "filtered.flt")
        print(f"{ident}/{kernel_machine}: from {case_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
