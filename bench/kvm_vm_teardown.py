"""How long an empty KVM VM takes to make and close inside L1, per guest physical address
size, on each kernel: the cause of QEMU's slow start+quit in the debian-latest L1
(bench/speed_results.md). Prints numbers; not a test.

    .venv/bin/python bench/kvm_vm_teardown.py [--kernel debian-6.1 --kernel debian-latest]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT / "bench/kvm_vm_teardown/vmcost.c"
SIZES = (0, 40, 44, 46, 48, 52)


def build(out: Path) -> Path:
    binary = out / "vmcost"
    subprocess.run(["aarch64-linux-gnu-gcc", "-O2", "-static", "-o", str(binary),
                    str(SOURCE)], check=True, timeout=300)
    return binary


def parse(text: str) -> tuple[int, dict[int, tuple[float, float]]]:
    """KVM's IPA limit and, per size, (create, destroy) seconds."""
    limit, times = 0, {}
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["limit"]:
            limit = int(words[1])
        elif words[:1] == ["ipa"] and len(words) == 6:
            times[int(words[1])] = (float(words[3]), float(words[5]))
    return limit, times


def measure(kernel: str, binary: Path, repeat: int) -> list[str]:
    from harness.images import build_image_set
    from harness.machine import L1Machine, load_machine_profile
    from harness.paths import new_run_dir

    images = build_image_set(kernel, progress=False)
    runs = []
    with L1Machine(images, load_machine_profile("max"),
                   new_run_dir(f"vm-teardown-{kernel}")) as l1:
        l1.ssh.put(binary, "/tmp/vmcost")
        sizes = " ".join(str(s) for s in SIZES)
        l1.ssh.run(f"/tmp/vmcost {sizes}", timeout=300)  # warm-up: L1's code translated
        for _ in range(repeat):
            runs.append(parse(l1.ssh.run(f"/tmp/vmcost {sizes}", timeout=300,
                                         check=True).stdout))
        cmdline = l1.ssh.run("cat /proc/cmdline", timeout=30).stdout.strip()
    limit = runs[0][0]
    rows = []
    for size in SIZES:
        got = [times[size] for _, times in runs if size in times]
        if got:
            rows.append(f"| {kernel} | {limit} | {size or 'default'} | "
                        f"{statistics.median(c for c, _ in got):.4f} | "
                        f"{statistics.median(d for _, d in got):.4f} |")
        else:
            rows.append(f"| {kernel} | {limit} | {size} | refused | - |")
    print(f"{kernel}: L1 command line {cmdline}", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", action="append", help="default debian-6.1, debian-latest")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(Path(tmp))
        rows = [row for kernel in args.kernel or ["debian-6.1", "debian-latest"]
                for row in measure(kernel, binary, args.repeat)]
    print("| kernel | KVM IPA limit | IPA bits | create (s) | destroy (s) |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
