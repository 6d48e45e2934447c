"""Linux mode: the distro's QEMU in L1 runs an L2 Linux guest with the filter applied.

The filter reaches QEMU through a preload (harness/l2/vmm.py). L2 is booted cold for
every run, or (``--l2-restore``, small kernel only) restored from a snapshot its L1 took
once (harness/l2/snapshot.py). L2 has as many vCPUs as the
scenario; inside it, the PMU driver's sysfs event list stands for PMCEID, and ``perf stat
-x,`` counts the workload's events with the workload pinned to each measured vCPU in turn:
raw ``r<hex>`` for each event counter, generic ``cycles`` for PMCCNTR.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from harness.errors import InfraError
from harness.events import CYCLE_COUNTER, SW_INCR, default_event_table
from harness.filterfile import render
from harness.l2.console import CpuReport, L2Report, parse_l2_console
from harness.l2.guest import L2Session
from harness.l2.remote import Remote, remote_case_dir, save_output, stage_file
from harness.l2.snapshot import restore_command
from harness.l2.vmm import GuestSettings, boot_command, filter_env
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


def _filter_steps(log_text: str) -> tuple[StepResult, ...]:
    steps = []
    for line in log_text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            steps.append(StepResult("filter", 0, errno_name(json.loads(line)), False))
    return tuple(steps)


def l2_command(remote: Remote, session: L2Session, scenario: Scenario, env: str,
               case_dir: Path) -> str:
    """The shell that runs L2 for one run, restored or booted as the session says."""
    settings = GuestSettings(tuple(perf_events(scenario)), LINUX_LOOPS, scenario.measure)
    files = session.boot_files(remote)
    if not session.settings.restores:
        return boot_command(files, scenario.vcpus, settings, env)
    snapshot = session.snapshot(remote, scenario.vcpus, case_dir.parent)
    restore = restore_command(files, scenario.vcpus, snapshot, settings, env,
                              remote_case_dir(case_dir))
    return f"( {restore} )"


def run_linux(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path,
              session: L2Session) -> Observation:
    label = "filtered" if filtered else "control"
    staged = stage_file(remote, render(scenario, with_filters=filtered), case_dir,
                        f"{label}.filter")
    log_file = staged.path.replace(".filter", ".filterlog")
    events = perf_events(scenario)
    command = l2_command(remote, session, scenario, filter_env(staged.path, log_file),
                         case_dir)
    (case_dir / f"{label}.l2-command.txt").write_text(command + "\n")
    started = time.monotonic()
    result = remote.run(staged.then(command), timeout=L2_TIMEOUT)
    # One L2 run as L1 ran it (restore or boot, then perf): the floor of a linux case
    # (bench/speed.py, bench/l2_restore.py).
    (case_dir / f"{label}.l2-seconds").write_text(f"{time.monotonic() - started:.3f}\n")
    save_output(result, case_dir / f"{label}.l2-console")
    report = parse_l2_console(result.stdout, scenario.measure)
    if report is None:
        raise InfraError(f"L2 Linux guest ({label}, {session.settings.describe()}) did not "
                         f"report (exit {result.exit_status})",
                         log_tail=(result.stdout + result.stderr)[-3000:], log_path=case_dir)
    (case_dir / f"{label}.perf.csv").write_text(
        "".join(f"# cpu {c.cpu}\n{c.perf_text}\n" for c in report.cpus.values()))
    log = remote.run(f"cat {shlex.quote(log_file)} 2>/dev/null", timeout=30)
    (case_dir / f"{label}.filterlog").write_text(log.stdout)
    first, *rest = (_view(scenario, report, report.cpus[cpu], events)
                    for cpu in scenario.measure)
    return Observation(
        mode="linux", steps=_filter_steps(log.stdout), pmceid0=None, pmceid1=None,
        advertised=first.advertised, counters=first.counters, measured=True,
        unobservable=first.unobservable, unlisted_events=first.unlisted_events,
        vcpu=first.vcpu, others=tuple(rest))


def _view(scenario: Scenario, report: L2Report, cpu: CpuReport,
          events: dict[str, str]) -> Observation:
    """What one vCPU showed. The event list is the PMU driver's, read on one vCPU when it
    probed (the filter is the VM's: every vCPU's PMCEID says the same); the counts are
    perf's with the workload pinned to this vCPU."""
    counts = {c.event: c for c in cpu.perf}
    counters: dict[str, int | None] = {}
    for spec, ref in events.items():
        count = counts.get(spec)
        counters[ref] = count.integer_value if count is not None else None
    return Observation(
        mode="linux", steps=(), pmceid0=None, pmceid1=None,
        advertised=frozenset(report.sysfs_events.values()), counters=counters,
        measured=True, unobservable=unobservable(scenario),
        unlisted_events=frozenset(e.number for e in default_event_table().events
                                  if e.sysfs is None),
        vcpu=cpu.cpu)
