"""What L1 says about itself: kernel, KVM mode, PMU. Gathered in one SSH round trip and
parsed by pure functions (tested on real output)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.machine.ssh import SshSession
from harness.pmceid import words_for

SECTION = "@@pmu-harness@@"

# One shell script, so facts cost one round trip under TCG. Sections are parsed below.
# The sysfs files are read with the shell's `read`, not `$(cat ...)`: a PMU lists dozens of
# events, and a fork and exec per event cost a good part of a second under TCG.
GATHER_SCRIPT = f"""
echo '{SECTION} uname'; uname -r
echo '{SECTION} devkvm'; if [ -c /dev/kvm ]; then echo yes; else echo no; fi
echo '{SECTION} events'
for d in /sys/bus/event_source/devices/armv8_pmuv3*; do
  [ -d "$d/events" ] || continue
  for f in "$d"/events/*; do v=; read -r v < "$f"; echo "${{d##*/}} ${{f##*/}} $v"; done
done
echo '{SECTION} caps'
for f in /sys/bus/event_source/devices/armv8_pmuv3*/caps/*; do
  [ -f "$f" ] || continue
  v=; read -r v < "$f"; echo "${{f##*/}} $v"
done
echo '{SECTION} dmesg'; dmesg
"""

_KVM_MODES = (
    ("protected", re.compile(r"kvm \[\d+\]: Protected nVHE mode initialized successfully")),
    ("vhe", re.compile(r"kvm \[\d+\]: VHE mode initialized successfully")),
    # 5.10/6.1: "Hyp mode initialized"; 6.12+: "Hyp nVHE mode initialized".
    ("nvhe", re.compile(r"kvm \[\d+\]: Hyp (nVHE )?mode initialized successfully")),
)
_KVM_FAILED = re.compile(
    r"kvm \[\d+\]: (HYP mode not available|error initializing Hyp mode|"
    r"Error, could not initialize|.*not initiali[sz]ed|.*failed).*"
)
# 6.12+ adds the counter mask: "7 (0,8000003f) counters available".
_PERF = re.compile(
    r"hw perfevents: enabled with (\S+) PMU driver, (\d+)(?: \([0-9a-fA-F,]+\))? counters"
)
_EVIDENCE = re.compile(r"kvm \[|hw perfevents|\bPMU\b|pmuv3", re.IGNORECASE)
_EVENT = re.compile(r"^(\S+) (\S+) event=(0x[0-9a-fA-F]+|\d+)")


@dataclass(frozen=True)
class L1Facts:
    """L1 as it booted. `pmceid0/1` are reconstructed from the sysfs event list.

    That list only names events the kernel's PMUv3 driver knows, so the values are a lower
    bound of L1's real PMCEID0/1_EL0 (which only EL0/EL1 code in L1 can read). The
    `pmu-probe` VMM reports its *guest's* PMCEID, not L1's.
    Layout as in configs/machines: low word = events 0x00-0x1f (PMCEID0) and 0x20-0x3f
    (PMCEID1), high word = 0x4000-0x401f and 0x4020-0x403f.
    """

    kernel_release: str
    kvm_mode: str | None  # "vhe", "nvhe", "protected", or None when KVM did not come up
    kvm_error: str | None
    dev_kvm: bool
    pmu_driver: str | None
    pmu_counters: int | None  # as the kernel prints it: event counters + cycle counter
    pmu_events: dict[str, int] = field(default_factory=dict)
    pmu_caps: dict[str, str] = field(default_factory=dict)
    pmceid0: int = 0
    pmceid1: int = 0
    # L1 userspace cannot read ID_AA64DFR0_EL1.PMUVer (Linux hides it), so this is
    # inferred from which architecturally versioned events the PMU lists.
    pmu_version_inferred: str = ""
    # dmesg lines about KVM and the PMU: the evidence behind the fields above.
    dmesg_evidence: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pmceid0"] = f"{self.pmceid0:#x}"
        data["pmceid1"] = f"{self.pmceid1:#x}"
        data["pmu_events"] = {k: f"{v:#x}" for k, v in sorted(self.pmu_events.items())}
        return data


def facts_from_json(data: dict[str, Any]) -> L1Facts:
    """The inverse of `L1Facts.to_json` (a snapshot keeps the facts of the L1 it saved).
    Raises KeyError, TypeError or ValueError on anything else."""
    return L1Facts(
        kernel_release=str(data["kernel_release"]),
        kvm_mode=None if data["kvm_mode"] is None else str(data["kvm_mode"]),
        kvm_error=None if data["kvm_error"] is None else str(data["kvm_error"]),
        dev_kvm=bool(data["dev_kvm"]),
        pmu_driver=None if data["pmu_driver"] is None else str(data["pmu_driver"]),
        pmu_counters=None if data["pmu_counters"] is None else int(data["pmu_counters"]),
        pmu_events={str(k): int(v, 16) for k, v in dict(data["pmu_events"]).items()},
        pmu_caps={str(k): str(v) for k, v in dict(data["pmu_caps"]).items()},
        pmceid0=int(data["pmceid0"], 16),
        pmceid1=int(data["pmceid1"], 16),
        pmu_version_inferred=str(data["pmu_version_inferred"]),
        dmesg_evidence=tuple(str(line) for line in data["dmesg_evidence"]),
    )


def split_sections(text: str) -> dict[str, str]:
    """The gather script's output by section name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(SECTION):
            current = sections.setdefault(line[len(SECTION):].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def kvm_mode_from_dmesg(dmesg: str) -> tuple[str | None, str | None]:
    """(mode, error): the mode KVM reported, or the line saying why it did not start."""
    for mode, pattern in _KVM_MODES:
        if pattern.search(dmesg):
            return mode, None
    failed = _KVM_FAILED.search(dmesg)
    return None, failed.group(0) if failed else "no KVM initialisation message in dmesg"


def pmu_from_dmesg(dmesg: str) -> tuple[str | None, int | None]:
    match = _PERF.search(dmesg)
    return (match.group(1), int(match.group(2))) if match else (None, None)


def parse_events(text: str) -> dict[str, int]:
    """`<pmu> <name> event=0x..` lines -> {name: event number}."""
    events: dict[str, int] = {}
    for line in text.splitlines():
        match = _EVENT.match(line.strip())
        if match:
            events[match.group(2)] = int(match.group(3), 0)
    return events


def pmceid_from_events(events: dict[str, int]) -> tuple[int, int]:
    """PMCEID0/1 (64-bit, high word = the 0x4000 range) with a bit per listed event."""
    return words_for(events.values())


def infer_pmu_version(events: dict[str, int]) -> str:
    """A lower bound of the PMU version from the events it implements.

    STALL_FRONTEND/BACKEND (0x23/0x24) and the 0x4000 range came with PMUv3p1 (16-bit
    event numbers); STALL (0x3c) with PMUv3p4. Without them: a v8.0 PMUv3 (10-bit events),
    or a later PMU that implements none of these events.
    """
    numbers = set(events.values())
    if not numbers:
        return "none"
    if 0x3C in numbers:
        return "PMUv3p4+"
    if numbers & {0x23, 0x24} or any(n >= 0x4000 for n in numbers):
        return "PMUv3p1+"
    return "PMUv3"


def parse_facts(text: str) -> L1Facts:
    """Build L1Facts from the gather script's output."""
    sections = split_sections(text)
    dmesg = sections.get("dmesg", "")
    mode, error = kvm_mode_from_dmesg(dmesg)
    driver, counters = pmu_from_dmesg(dmesg)
    events = parse_events(sections.get("events", ""))
    pmceid0, pmceid1 = pmceid_from_events(events)
    caps = dict(
        line.split(" ", 1) for line in sections.get("caps", "").splitlines() if " " in line
    )
    return L1Facts(
        kernel_release=sections.get("uname", "").strip(),
        kvm_mode=mode,
        kvm_error=error,
        dev_kvm=sections.get("devkvm", "").strip() == "yes",
        pmu_driver=driver,
        pmu_counters=counters,
        pmu_events=events,
        pmu_caps=caps,
        pmceid0=pmceid0,
        pmceid1=pmceid1,
        pmu_version_inferred=infer_pmu_version(events),
        dmesg_evidence=tuple(
            line for line in dmesg.splitlines() if _EVIDENCE.search(line)
        ),
    )


def gather_facts(ssh: SshSession, timeout: float = 60.0) -> L1Facts:
    result = ssh.run(GATHER_SCRIPT, timeout=timeout, check=True)
    return parse_facts(result.stdout)


def health_problems(facts: L1Facts, expected_mode: str) -> list[str]:
    """Why this L1 cannot host the tests, if it cannot: each entry is one problem."""
    problems = []
    if facts.kvm_mode is None:
        problems.append(f"KVM not initialised in L1: {facts.kvm_error}")
    elif facts.kvm_mode != expected_mode:
        problems.append(f"KVM came up in {facts.kvm_mode} mode, expected {expected_mode}")
    if not facts.dev_kvm:
        problems.append("/dev/kvm is missing in L1")
    if facts.pmu_driver is None or not facts.pmu_events:
        problems.append("no PMUv3 in L1 (no 'hw perfevents' line or no sysfs events)")
    return problems


def check_health(facts: L1Facts, expected_mode: str, log_path: Path | None = None) -> None:
    """Raise InfraError listing every problem found in L1, with L1's dmesg as evidence."""
    problems = health_problems(facts, expected_mode)
    if problems:
        evidence = "\n".join(facts.dmesg_evidence) or "(no KVM or PMU lines in L1's dmesg)"
        raise InfraError(
            "L1 is not healthy: " + "; ".join(problems), log_tail=evidence, log_path=log_path
        )
