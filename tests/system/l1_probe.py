"""The quickest proof that a (restored) L1's nested KVM works: pmu-probe runs a guest."""

from __future__ import annotations

from harness.machine import L1Machine

# One vCPU, one filter call, a short loop: a restored L1 whose timers are dead (or whose
# CPU 1 the timer re-arm broke, on nVHE) hangs in KVM_RUN instead of answering in ~1 s.
PROBE_FILTER = ("pmu-harness-filter 1\nvcpus 1\nfilter 0 0x11 1 deny\n"
                "workload 0x11 cycles=1 loops=2000\n")


def probe_runs(l1: L1Machine) -> None:
    """pmu-probe answers twice in a row (the second run needs timers that still fire)."""
    l1.ssh.run(f"printf '%s' '{PROBE_FILTER}' > /tmp/filter", timeout=30, check=True)
    for _ in range(2):
        result = l1.ssh.run("/opt/pmu-harness/bin/pmu-probe /tmp/filter", timeout=30)
        assert result.exit_status in (0, 2), result.stderr
        assert result.stdout.lstrip().startswith("{"), result.stdout[:200]
