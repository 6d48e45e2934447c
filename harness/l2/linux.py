"""Linux mode: the distro's QEMU in L1 boots an L2 Linux guest with the filter applied.

No QEMU release has a PMU filter option, so ``libpmufilter.so`` (guest-images/preload) is
preloaded into it: on the first PMU INIT it issues the filter file's calls on that vCPU.
Inside L2, the PMU driver's sysfs event list stands for PMCEID, and ``perf stat -x,`` counts
the workload's events: raw ``r<hex>`` for each event counter, generic ``cycles`` for PMCCNTR.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from harness.errors import InfraError
from harness.events import CYCLE_COUNTER, SW_INCR, default_event_table
from harness.filterfile import render
from harness.l2.console import parse_l2_console
from harness.l2.remote import (
    L2_INITRD,
    L2_KERNEL,
    PRELOAD_LIBRARY,
    Remote,
    save_output,
    stage_file,
)
from harness.observation import Observation, StepResult, errno_name
from harness.scenario.model import Scenario

L2_TIMEOUT = 240.0
# The busy loop in busybox sh is slow under nested virtualisation on TCG: a few thousand
# iterations already give CPU_CYCLES in the millions. Scenario loop counts are for the probe.
LINUX_LOOPS = 2000
GENERIC_CYCLES = "cycles"


def perf_events(scenario: Scenario) -> dict[str, str]:
    """perf event spec -> the counter reference it stands for."""
    name_of = default_event_table().name_of
    wanted = {f"r{event:x}": name_of(event) for event in scenario.workload.events}
    if scenario.workload.cycle_counter:
        wanted[GENERIC_CYCLES] = CYCLE_COUNTER
    return wanted


def unobservable(scenario: Scenario) -> frozenset[str]:
    # Nobody writes PMSWINC_EL0 in L2's workload, so SW_INCR never moves in this mode.
    if SW_INCR in scenario.workload.events:
        return frozenset({default_event_table().name_of(SW_INCR)})
    return frozenset()


def qemu_command(filter_file: str, log_file: str, events: list[str]) -> str:
    # quiet: every console byte of L2 traps through L1's KVM into L1's QEMU, itself under
    # TCG; the full boot log took ~20 s of each L2 boot. Warnings and panics still print.
    append = (f"console=ttyAMA0 quiet panic=-1 pmu_harness.events={','.join(events)} "
              f"pmu_harness.loops={LINUX_LOOPS}")
    env = (f"PMU_HARNESS_FILTER={shlex.quote(filter_file)} "
           f"PMU_HARNESS_FILTER_LOG={shlex.quote(log_file)} LD_PRELOAD={PRELOAD_LIBRARY}")
    return (f"{env} qemu-system-aarch64 -accel kvm -cpu host -machine virt,gic-version=3 "
            f"-m 256 -smp 1 -nographic -nodefaults -serial stdio -nic none -no-reboot "
            f"-kernel {L2_KERNEL} -initrd {L2_INITRD} -append {shlex.quote(append)}")


def _filter_steps(log_text: str) -> tuple[StepResult, ...]:
    steps = []
    for line in log_text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            steps.append(StepResult("filter", 0, errno_name(json.loads(line)), False))
    return tuple(steps)


def run_linux(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path) -> Observation:
    label = "filtered" if filtered else "control"
    staged = stage_file(remote, render(scenario, with_filters=filtered), case_dir,
                        f"{label}.filter")
    log_file = staged.path.replace(".filter", ".filterlog")
    events = perf_events(scenario)
    command = qemu_command(staged.path, log_file, list(events))
    (case_dir / f"{label}.l2-command.txt").write_text(command + "\n")
    started = time.monotonic()
    result = remote.run(staged.then(command), timeout=L2_TIMEOUT)
    # One L2 boot + perf as L1 ran it: the floor of a linux case (bench/speed.py).
    (case_dir / f"{label}.l2-seconds").write_text(f"{time.monotonic() - started:.3f}\n")
    save_output(result, case_dir / f"{label}.l2-console")
    report = parse_l2_console(result.stdout)
    if report is None:
        raise InfraError(f"L2 Linux guest ({label}) did not report (QEMU exit "
                         f"{result.exit_status})", log_tail=(result.stdout + result.stderr)[-3000:],
                         log_path=case_dir)
    (case_dir / f"{label}.perf.csv").write_text(report.perf_text + "\n")
    log = remote.run(f"cat {shlex.quote(log_file)} 2>/dev/null", timeout=30)
    (case_dir / f"{label}.filterlog").write_text(log.stdout)
    counts = {c.event: c for c in report.perf}
    counters: dict[str, int | None] = {}
    for spec, ref in events.items():
        count = counts.get(spec)
        counters[ref] = count.integer_value if count is not None else None
    return Observation(
        mode="linux",
        steps=_filter_steps(log.stdout),
        pmceid0=None,
        pmceid1=None,
        advertised=frozenset(report.sysfs_events.values()),
        counters=counters,
        measured=True,
        unobservable=unobservable(scenario),
        unlisted_events=frozenset(e.number for e in default_event_table().events
                                  if e.sysfs is None),
    )



