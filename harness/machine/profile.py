"""Machine profiles: configs/machines/*.yaml loaded into frozen, validated objects."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from harness.catalog import MACHINES, unknown_name
from harness.errors import Located, UsageError
from harness.located import LocatedReader
from harness.yamlsource import LocatedDict, load_located

MACHINES_DIR = MACHINES.directory
KVM_MODES = ("vhe", "nvhe")
# `qemu.machine` and `qemu.cpu` go into QEMU's command line as option values, and a profile
# can come from a bundle (someone else's file): `virt,dumpdtb=PATH` would have QEMU write a
# file. The board is `virt` with the properties an L1 needs; a CPU is a model name with
# on/off or numeric properties.
QEMU_MACHINE = re.compile(r"virt(,(virtualization|gic-version|its|secure|mte|highmem|ras)"
                          r"=[a-z0-9]{1,8})*")
QEMU_CPU = re.compile(r"[a-z0-9][a-z0-9.-]{0,31}(,[a-z0-9-]{1,32}=(on|off|[0-9]{1,8}))*")


@dataclass(frozen=True)
class PmuProfile:
    """What QEMU's emulated PMU shows L1 with this CPU model (see configs/machines)."""

    version: str
    event_bits: int
    counters: int
    host_pmceid0: int
    host_pmceid1: int
    counting_events: tuple[int, ...]


@dataclass(frozen=True)
class MachineProfile:
    """One QEMU machine for L1: CPU model, board, memory, and the PMU it implies."""

    name: str
    description: str
    cpu: str
    machine: str
    memory_mib: int
    smp: int
    icount: bool
    pmu: PmuProfile
    kvm_modes: tuple[str, ...]
    default_kvm_mode: str

    def fingerprint(self) -> str:
        """SHA-256 of the profile's contents; part of every snapshot key."""
        canonical = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def resolve_kvm_mode(self, requested: str | None) -> str:
        """The KVM mode to boot: the profile default, or a requested one it supports."""
        mode = requested or self.default_kvm_mode
        if mode not in self.kvm_modes:
            raise UsageError(
                f"machine profile {self.name!r} supports KVM modes {list(self.kvm_modes)}, "
                f"not {mode!r}"
            )
        return mode


PROFILE_KEYS = ("name", "description", "qemu", "pmu", "kvm_modes", "default_kvm_mode")
QEMU_KEYS = ("cpu", "machine", "memory_mib", "smp", "icount")
PMU_KEYS = ("version", "event_bits", "counters", "host_pmceid0", "host_pmceid1",
            "counting_events")
REGISTER = (1 << 64) - 1


def _line(doc: LocatedDict, key: str) -> int:
    return doc.key_lines.get(key, doc.line)


def _parse_qemu(r: LocatedReader, doc: LocatedDict) -> tuple[str, str, int, int, bool]:
    qemu = r.mapping(doc.get("qemu"), _line(doc, "qemu"), "qemu", QEMU_KEYS)
    decimal = partial(r.integer, hexadecimal=False)
    cpu = r.guarded("", r.string, qemu.get("cpu"), _line(qemu, "cpu"), "qemu.cpu")
    machine = r.guarded("", r.string, qemu.get("machine"), _line(qemu, "machine"),
                        "qemu.machine")
    for key, value, form in (("machine", machine, QEMU_MACHINE), ("cpu", cpu, QEMU_CPU)):
        if value and not form.fullmatch(value):
            r.fail(_line(qemu, key), f"qemu.{key} {value[:80]!r} is not allowed (expected "
                                     f"{form.pattern})")
    return (cpu, machine,
            r.guarded(0, decimal, qemu.get("memory_mib"), _line(qemu, "memory_mib"),
                      "qemu.memory_mib", 128, 1 << 20),
            r.guarded(0, decimal, qemu.get("smp"), _line(qemu, "smp"), "qemu.smp", 1, 64),
            r.guarded(False, r.boolean, qemu.get("icount"), _line(qemu, "icount"),
                      "qemu.icount"))


def _parse_pmu(r: LocatedReader, doc: LocatedDict) -> PmuProfile:
    pmu = r.mapping(doc.get("pmu"), _line(doc, "pmu"), "pmu", PMU_KEYS)

    def number(key: str, lo: int, hi: int) -> int:
        read = partial(r.integer, hexadecimal=hi > 64)
        value: int = r.guarded(0, read, pmu.get(key), _line(pmu, key), f"pmu.{key}", lo, hi)
        return value

    line = _line(pmu, "counting_events")
    events = r.guarded([], r.each, pmu.get("counting_events"), line, "pmu.counting_events",
                       lambda v, ln: r.integer(v, ln, "pmu.counting_events", 0, 0xFFFF))
    return PmuProfile(
        version=r.guarded("", r.string, pmu.get("version"), _line(pmu, "version"),
                          "pmu.version"),
        event_bits=number("event_bits", 10, 16), counters=number("counters", 0, 31),
        host_pmceid0=number("host_pmceid0", 0, REGISTER),
        host_pmceid1=number("host_pmceid1", 0, REGISTER),
        counting_events=tuple(events),
    )


def _parse_modes(r: LocatedReader, doc: LocatedDict) -> tuple[tuple[str, ...], str]:
    line = _line(doc, "kvm_modes")
    modes = r.guarded((), r.string_list, doc.get("kvm_modes"), line, "kvm_modes")
    for mode in modes:
        if mode not in KVM_MODES:
            r.fail(line, f"kvm_modes: {unknown_name('KVM mode', mode, KVM_MODES)}")
    default = r.guarded("", r.string, doc.get("default_kvm_mode"),
                        _line(doc, "default_kvm_mode"), "default_kvm_mode")
    if default and default not in modes:
        r.fail(_line(doc, "default_kvm_mode"),
               f"default_kvm_mode {default!r} is not in kvm_modes")
    return modes, default


def _parse(r: LocatedReader, doc: LocatedDict) -> MachineProfile:
    r.unknown_keys(doc, "machine profile", PROFILE_KEYS)
    name = r.guarded("", r.string, doc.get("name"), _line(doc, "name"), "name")
    if name and name != r.path.stem:
        r.fail(_line(doc, "name"), f"name {name!r} differs from the file name")
    cpu, machine, memory_mib, smp, icount = r.guarded(("", "", 0, 0, False), _parse_qemu,
                                                      r, doc)
    pmu = r.guarded(None, _parse_pmu, r, doc)
    modes, default = _parse_modes(r, doc)
    return MachineProfile(name=name, description=str(doc.get("description", "")), cpu=cpu,
                          machine=machine, memory_mib=memory_mib, smp=smp, icount=icount,
                          pmu=pmu, kvm_modes=modes, default_kvm_mode=default)


def parse_machine_profile(path: Path, data: object) -> MachineProfile:
    """Validate one loaded (located) YAML document; raises UsageError listing every problem,
    each with its ``file:line``."""
    if not isinstance(data, LocatedDict):
        raise UsageError("bad machine profile", (Located(path, None, "expected a mapping"),))
    reader = LocatedReader(path)
    profile = _parse(reader, data)
    if reader.problems:
        raise UsageError(f"bad machine profile {path}", tuple(reader.problems))
    return profile


def load_machine_profile(name: str, directory: Path = MACHINES_DIR) -> MachineProfile:
    """Load and validate configs/machines/NAME.yaml; unknown names are a UsageError."""
    path = MACHINES.path(name, directory)
    # Bounded and located like a scenario: `rerun` reads a bundle's copy of the profile.
    return parse_machine_profile(path, load_located(path))
