"""kmemleak in L1: a leak shows only when asked for.

On a kernel built with kmemleak (the ``debug`` build option), the group prepares it once L1
is up: it stops the automatic scans (their reports would land in whichever case runs then),
scans and clears what that finds (what boot left, never this run's), and after the last
case an L1 runs it scans again. Each time it scans twice: kmemleak reports an object only
when two scans in a row found it unreferenced and unchanged. A leak reported at the end is
a kernel-health finding: it fails that case (the last one the L1 ran), whose checks say
that the leak may come from any case of the L1. An L1 left after a splat that turned its
checkers off (the group moves on to a fresh one) is not scanned: its last case failed
already. On a kernel without kmemleak nothing is done. Each scan walks all of L1's memory:
about 9 s (cortex-a57) to 17 s (max) under TCG with KASAN, right after boot.

The preparation is also done in a cold-booted L1 just before its snapshot is saved
(``SAVE_STEP``), and leaves a mark in L1's ``/run`` (RAM, so in the snapshot too): an L1
restored from that snapshot starts prepared, and the group's own preparation finds the mark
and does nothing, which spares two scans per L1. Objects allocated between the save and the
first case (the restore's CPU hotplug, SSH) are young enough that the group's scans would
not have cleared them either.
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import InfraError
from harness.health import Kind, scan
from harness.l2.remote import Remote
from harness.machine.l1 import SaveStep
from harness.results import CaseResult, Check, ErrorClass, Outcome

log = logging.getLogger(__name__)

KMEMLEAK = "/sys/kernel/debug/kmemleak"
CHECK_NAME = "kmemleak scan of L1 after its cases"
EXPECTED = "no unreferenced object"
REPORT = "kmemleak.txt"
# kmemleak reports nothing younger than 5 s (its minimum age) and only what two scans in a
# row found unreferenced and unchanged: the first scan that sees an object records its
# checksum and counts it as changed, whatever its age. The last case's VM was destroyed a
# moment ago, so the second scan must start at least that long after the case ended; the
# wait runs beside the first scan (itself 9-17 s under TCG), not before it.
MIN_AGE_S = 6
SCAN_TIMEOUT_S = 600.0  # tenfold what one took
EXCERPT_LINES = 4

PREPARED_MARK = "/run/pmu-harness-kmemleak-prepared"
PREPARE_TIMEOUT_S = 2 * SCAN_TIMEOUT_S

_MOUNT = "mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug"
_K = shlex.quote(KMEMLEAK)
_MARK = shlex.quote(PREPARED_MARK)
# "absent": no kmemleak in this kernel; "on": ready. A kmemleak that is built in but has
# turned itself off (its metadata pool ran out) refuses the writes: an error, never a pass.
PREPARE = (f"{_MOUNT}; if [ ! -e {_K} ]; then echo absent; exit 0; fi; "
           f"if [ -e {_MARK} ]; then echo on; exit 0; fi; "
           f"echo scan=off > {_K} && echo scan > {_K} && echo scan > {_K} && "
           f"echo clear > {_K} && : > {_MARK} && echo on")
SAVE_STEP = SaveStep(PREPARE, PREPARE_TIMEOUT_S)
SCAN = (f"sleep {MIN_AGE_S} </dev/null >/dev/null 2>&1 & aged=$!; "
        f"echo scan > {_K} && wait $aged && echo scan > {_K} && cat {_K}")


@dataclass(frozen=True)
class LeakWatch:
    """A prepared kmemleak in one L1."""

    remote: Remote


def prepare(remote: Remote) -> LeakWatch | None:
    """Ready kmemleak for the cases to come; None when the kernel has none."""
    done = remote.run(PREPARE, timeout=PREPARE_TIMEOUT_S)
    answer = done.stdout.strip().splitlines()
    if done.exit_status == 0 and answer[-1:] == ["absent"]:
        return None
    if done.exit_status != 0 or answer[-1:] != ["on"]:
        raise InfraError(f"kmemleak is built into L1's kernel but could not be prepared "
                         f"(exit {done.exit_status}): {done.stderr.strip()[-500:]}")
    return LeakWatch(remote)


def leak_check(watch: LeakWatch, case_dir: Path) -> Check:
    """Scan now; the report is kept in ``case_dir``."""
    done = watch.remote.run(SCAN, timeout=2 * SCAN_TIMEOUT_S + MIN_AGE_S)
    if done.exit_status != 0:
        raise InfraError(f"kmemleak scan failed (exit {done.exit_status}): "
                         f"{done.stderr.strip()[-500:]}")
    text = done.stdout
    where = case_dir / REPORT
    try:
        where.write_text(text)
    except OSError as exc:
        log.warning("could not keep the kmemleak report: %s", exc)
    leaks = [s for s in scan(text).splats if s.kind is Kind.KMEMLEAK]
    if not leaks:
        return Check(CHECK_NAME, EXPECTED, "none", Outcome.PASS, f"harness: {where}")
    first = " | ".join(leaks[0].excerpt[:EXCERPT_LINES])
    return Check(CHECK_NAME, EXPECTED,
                 f"{len(leaks)} unreferenced object(s), from this case or any before it in "
                 f"this L1: {first}", Outcome.FAIL, f"harness: {where}")


def with_leak_check(result: CaseResult, check: Check) -> CaseResult:
    """The case with the scan's check; a leak fails a case that passed (a kernel failure,
    as a splat in the console is) and becomes its reason."""
    if check.outcome is not Outcome.FAIL:
        return replace(result, checks=(*result.checks, check))
    if result.outcome in (Outcome.PASS, Outcome.INCONCLUSIVE):
        return replace(result, outcome=Outcome.FAIL, reason=check.message(),
                       error_class=ErrorClass.KERNEL_FAILURE, checks=(check, *result.checks))
    return replace(result, checks=(check, *result.checks))


def rewrite_verdict(result: CaseResult) -> None:
    """The case's ``verdict.json`` as the result now stands."""
    if result.artefacts is None:
        return
    try:
        (Path(result.artefacts) / "verdict.json").write_text(
            json.dumps(result.to_json(), indent=2) + "\n")
    except OSError as exc:
        log.warning("could not rewrite %s's verdict: %s", result.name, exc)
