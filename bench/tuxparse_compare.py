"""Linaro's tuxparse beside ``harness.health`` on every real kernel log the tests keep.

    .venv/bin/pip install tuxparse==0.6.0     # not a dependency of the harness
    .venv/bin/python bench/tuxparse_compare.py

For each log: what it holds (read by hand; ``tests/data/kernel-logs/README.rst``), what
``health.scan`` finds (fatal splats, and stalls taken for load), and what tuxparse's boot/test
parser finds, once on the log as it is and once with a printk timestamp put before every
line (tuxparse reads only timestamped lines; the kernels built here have no
CONFIG_PRINTK_TIME). Numbers in docs/tuxparse.rst.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from harness import health

ROOT = Path(__file__).resolve().parent.parent
# What each log holds, from its README and by reading it; neither parser's output.
TRUTH: dict[str, tuple[str, ...]] = {
    "tests/data/kernel-logs/v3-kasan-cortex-a57-pmceid-oob.console.log": ("kasan",),
    "tests/data/kernel-logs/v3-kasan-slab-oob-cortex-a57-default-policy.l1-kernel.log":
        ("kasan",),
    "tests/data/kernel-logs/v3-warn-mutant-max-member-deny.console.log": ("warning",),
    "tests/data/kernel-logs/v3-clean-max-member-deny.console.log": (),
    "tests/data/kernel-logs/debian-6.1-hrtimer-max-default.console.log": ("hrtimer (load)",),
    "tests/data/kernel-logs/v3-hrtimer-cortex-a57-revisions.console.log": ("hrtimer (load)",),
    "tests/unit/data/machine/boot-a57-nvhe-6.1.txt": (),
    "tests/unit/data/machine/boot-max-vhe-6.1.txt": (),
    "tests/unit/data/machine/boot-no-el2-6.1.txt": (),
    "tests/unit/data/machine/panic-vfs-6.1.txt": ("panic",),
}


def synthetic() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The excerpts tests/unit/test_health.py writes from the kernel's format strings (no
    log on this machine held these kinds), with what that test says each one is."""
    sys.path.insert(0, str(ROOT))  # run as a script, bench/ is on the path, not the root
    t = importlib.import_module("tests.unit.test_health")
    return {
        "lockdep circular": (t.LOCKDEP_CIRCULAR, ("lockdep",)),
        "oops, then panic": (t.OOPS_THEN_PANIC, ("oops",)),
        "refcount underflow": (t.REFCOUNT, ("refcount",)),
        "list_del corruption": (t.LIST_BUG, ("list-corruption",)),
        "WARN with message": (t.WARN_WITH_MESSAGE, ("warning",)),
        "UBSAN": (t.UBSAN, ("ubsan",)),
        "scheduling while atomic": (t.SCHEDULING_WHILE_ATOMIC, ("bug",)),
        "soft lockup in the run loop": (t.soft_lockup(), ("soft-lockup (load)",)),
        "RCU stall": (t.rcu_stall(), ("rcu-stall (load)",)),
        "hung task": (t.hung_task(), ("hung-task (load)",)),
        "soft lockup in the filter": (t.soft_lockup(where="kvm_pmu_get_pmceid"),
                                      ("soft-lockup",)),
    }


def ours(text: str) -> list[str]:
    report = health.scan(text)
    return ([str(s.kind) for s in report.splats]
            + [f"{s.kind} (load)" for s in report.stalls])


def theirs(parser: Any, text: str) -> list[str]:
    """tuxparse's findings, by kind (the part of its key before the first '-'), each
    finding once: with unique=False it lists a report under its title and again with a
    hash of its body."""
    found = parser.parse_log(io.StringIO(text), True)
    kinds: Counter[str] = Counter()
    for section in found.values():
        for key in section:
            kinds[key.split("-")[0]] += 1
    return sorted(kinds.elements())


def stamped(text: str) -> str:
    """Every line with a printk timestamp in front, as CONFIG_PRINTK_TIME would print it."""
    return "\n".join(f"[{i / 1000:12.6f}] {line}" for i, line in enumerate(text.splitlines()))


def row(parser: Any, label: str, text: str, truth: tuple[str, ...]) -> None:
    stamps = sum(1 for line in text.splitlines() if line.startswith(("[", "<")))
    label = f"{label[:50]} ({stamps}/{len(text.splitlines())} ts)"
    print(f"{label:<62} {', '.join(truth) or '-':<18} {', '.join(ours(text)) or '-':<18} "
          f"{', '.join(theirs(parser, text)) or '-':<22} "
          f"{', '.join(theirs(parser, stamped(text))) or '-'}")


def main() -> None:
    parser = importlib.import_module("tuxparse.boot_test_parser").BootTestParser()
    print(f"{'log (timestamped lines/lines)':<62} {'holds':<18} {'health':<18} "
          f"{'tuxparse':<22} tuxparse, stamped")
    for name, truth in TRUTH.items():
        row(parser, Path(name).name, (ROOT / name).read_text(errors="replace"), truth)
    print()
    for label, (text, truth) in synthetic().items():
        row(parser, label, text, truth)


if __name__ == "__main__":
    main()
