"""Probe mode: our own minimal VMM (guest-images/probe) on L1's /dev/kvm."""

from __future__ import annotations

import shlex
from pathlib import Path

from harness.errors import InfraError
from harness.filterfile import render
from harness.l2.remote import PROBE_BINARY, Remote, prepare_case, save_output
from harness.observation import Observation, parse_probe_output
from harness.scenario.model import Scenario

PROBE_TIMEOUT = 120.0


def run_probe(remote: Remote, scenario: Scenario, filtered: bool, case_dir: Path) -> Observation:
    """Push one filter file, run the probe on it, and read back what KVM did."""
    label = "filtered" if filtered else "control"
    remote_file = prepare_case(remote, render(scenario, with_filters=filtered), case_dir, label)
    command = f"{PROBE_BINARY} {shlex.quote(remote_file)}"
    (case_dir / f"{label}.l2-command.txt").write_text(command + "\n")
    result = remote.run(command, timeout=PROBE_TIMEOUT)
    save_output(result, case_dir / f"{label}.probe")
    (case_dir / f"{label}.probe.json").write_text(result.stdout)
    if result.exit_status not in (0, 2):
        raise InfraError(f"pmu-probe exited {result.exit_status} in L1",
                         log_tail=(result.stdout + result.stderr)[-3000:], log_path=case_dir)
    return parse_probe_output(result.stdout, source=f"pmu-probe ({label})")
