"""Probe mode: our own minimal VMM (guest-images/probe) on L1's /dev/kvm."""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.errors import InfraError
from harness.filterfile import render
from harness.l2.remote import PROBE_BINARY, Remote, save_output, stage_file
from harness.observation import Observation, parse_probe_output
from harness.scenario.model import Scenario

# A probe run takes 0.04-0.5 s (up to ~11 s seen for 20,000 SW_INCR writes on a KASAN
# kernel on cortex-a57 under a loaded host). A run that has not ended after this is hung (a
# vCPU stuck in KVM_RUN, where even SIGKILL waits): better an error now than two minutes on.
PROBE_TIMEOUT = 30.0


def run_probe(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path) -> Observation:
    """Send one filter file and run the probe on it in one round trip; read back what KVM
    did."""
    label = "filtered" if filtered else "control"
    staged = stage_file(remote, render(scenario, with_filters=filtered), case_dir,
                        f"{label}.filter")
    command = f"{PROBE_BINARY} {shlex.quote(staged.path)}"
    (case_dir / f"{label}.l2-command.txt").write_text(command + "\n")
    result = remote.run(staged.then(f"exec {command}"), timeout=PROBE_TIMEOUT)
    save_output(result, case_dir / f"{label}.probe")
    (case_dir / f"{label}.probe.json").write_text(result.stdout)
    if result.exit_status not in (0, 2):
        raise InfraError(f"pmu-probe exited {result.exit_status} in L1",
                         log_tail=(result.stdout + result.stderr)[-3000:], log_path=case_dir)
    return parse_probe_output(result.stdout, source=f"pmu-probe ({label})")
