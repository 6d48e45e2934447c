"""How long a probe run may take before it is hung: short for the usual workload, long
enough for a long SW_INCR loop (each write traps to L1's KVM), on every measured vCPU."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.events import CPU_CYCLES, SW_INCR
from harness.l2.probe import probe_deadline
from harness.paths import SCENARIOS_DIR
from harness.scenario.discover import load_scenarios
from harness.scenario.model import Scenario, Workload

BASE = next(s for s in load_scenarios([SCENARIOS_DIR]) if s.id == "member-deny")


def with_workload(events: tuple[int, ...], loops: int, measure: tuple[int, ...] = (0,)
                  ) -> Scenario:
    return replace(BASE, workload=Workload(events, True, loops), vcpus=max(measure) + 1,
                   measure=measure)


def test_a_usual_case_is_hung_after_seconds_not_minutes() -> None:
    # Ten times what such a run took at worst (~1.1 s: 2,000 SW_INCR writes, KASAN kernel).
    assert 10 <= probe_deadline(with_workload((CPU_CYCLES, SW_INCR), 2000)) <= 15
    assert 10 <= probe_deadline(with_workload((CPU_CYCLES,), 200_000)) <= 15


def test_a_long_sw_incr_loop_gets_time_for_every_write_on_every_vcpu() -> None:
    # test_faults' slow case: 200,000 writes take ~26 s on max.
    one = probe_deadline(with_workload((SW_INCR,), 200_000))
    assert one > 26 * 3
    two = probe_deadline(with_workload((SW_INCR,), 200_000, (0, 1)))
    assert two - 10 == pytest.approx(2 * (one - 10))
