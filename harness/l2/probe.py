"""Probe mode: our own minimal VMM (guest-images/probe) on L1's /dev/kvm."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import InfraError
from harness.events import SW_INCR
from harness.filterfile import render
from harness.l2.remote import PROBE_BINARY, Remote, save_output, stage_file
from harness.observation import Observation, parse_probe_output
from harness.scenario.model import Scenario

if TYPE_CHECKING:
    from harness.l2.guest import L2Session

# A hung run (a vCPU stuck in KVM_RUN, where even SIGKILL waits) must end soon, a long
# workload must not: 10 s for all but the loop (a run takes 0.04-0.5 s, ~1 s on a KASAN
# kernel under a loaded host), plus a budget per iteration on each measured vCPU. A SW_INCR
# write traps to L1's KVM: ~0.13 ms each on max, ~0.55 ms on a KASAN kernel on cortex-a57
# under a loaded host; other iterations are a few instructions.
PROBE_BASE_SECONDS = 10.0
SW_INCR_SECONDS_PER_LOOP = 0.0006
PLAIN_SECONDS_PER_LOOP = 0.00002


def probe_deadline(scenario: Scenario) -> float:
    """Seconds a probe run of ``scenario`` may take before it counts as hung."""
    workload = scenario.workload
    per_loop = (SW_INCR_SECONDS_PER_LOOP if SW_INCR in workload.events
                else PLAIN_SECONDS_PER_LOOP)
    return PROBE_BASE_SECONDS + workload.loops * len(scenario.measure) * per_loop


def run_probe(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path,
              session: L2Session) -> Observation:
    """Send one filter file and run the probe on it in one round trip; read back what KVM
    did. (``session`` is linux mode's: the probe keeps nothing between runs.)"""
    label = "filtered" if filtered else "control"
    staged = stage_file(remote, render(scenario, with_filters=filtered), case_dir,
                        f"{label}.filter")
    command = f"{PROBE_BINARY} {shlex.quote(staged.path)}"
    (case_dir / f"{label}.l2-command.txt").write_text(command + "\n")
    result = remote.run(staged.then(f"exec {command}"), timeout=probe_deadline(scenario))
    save_output(result, case_dir / f"{label}.probe")
    (case_dir / f"{label}.probe.json").write_text(result.stdout)
    if result.exit_status not in (0, 2):
        raise InfraError(f"pmu-probe exited {result.exit_status} in L1",
                         log_tail=(result.stdout + result.stderr)[-3000:], log_path=case_dir)
    return parse_probe_output(result.stdout, source=f"pmu-probe ({label})")
