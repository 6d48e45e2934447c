"""Machine profiles: configs/machines/*.yaml loaded into frozen, validated objects."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import Located, UsageError
from harness.paths import CONFIGS_DIR
from harness.yamlsource import load_located

MACHINES_DIR = CONFIGS_DIR / "machines"
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


class _Reader:
    """Pulls typed fields out of a YAML mapping, collecting every problem, not the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Located] = []

    def get(self, data: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
        value = data.get(key)
        # bool is an int in Python; a profile saying "memory_mib: true" is still wrong.
        wrong_bool = kind is int and isinstance(value, bool)
        if not isinstance(value, kind) or wrong_bool:
            name = f"{where}{key}"
            self.problems.append(
                Located(self.path, None, f"{name}: expected {kind.__name__}, got {value!r}")
            )
            return kind()
        return value

    def section(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            self.problems.append(Located(self.path, None, f"{key}: expected a mapping"))
            return {}
        return value


def _int_list(reader: _Reader, data: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    values = reader.get(data, key, list, where)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        reader.problems.append(Located(reader.path, None, f"{where}{key}: expected integers"))
        return ()
    return tuple(values)


def _parse_pmu(reader: _Reader, data: dict[str, Any]) -> PmuProfile:
    pmu = reader.section(data, "pmu")
    return PmuProfile(
        version=reader.get(pmu, "version", str, "pmu."),
        event_bits=reader.get(pmu, "event_bits", int, "pmu."),
        counters=reader.get(pmu, "counters", int, "pmu."),
        host_pmceid0=reader.get(pmu, "host_pmceid0", int, "pmu."),
        host_pmceid1=reader.get(pmu, "host_pmceid1", int, "pmu."),
        counting_events=_int_list(reader, pmu, "counting_events", "pmu."),
    )


def _check_modes(reader: _Reader, modes: tuple[str, ...], default: str) -> None:
    for mode in modes:
        if mode not in KVM_MODES:
            reader.problems.append(
                Located(reader.path, None, f"kvm_modes: unknown mode {mode!r}")
            )
    if default not in modes:
        reader.problems.append(
            Located(reader.path, None, f"default_kvm_mode {default!r} is not in kvm_modes")
        )


def parse_machine_profile(path: Path, data: object) -> MachineProfile:
    """Validate one loaded YAML document; raises UsageError listing every problem."""
    if not isinstance(data, dict):
        raise UsageError("bad machine profile", (Located(path, None, "expected a mapping"),))
    reader = _Reader(path)
    qemu = reader.section(data, "qemu")
    modes = tuple(str(m) for m in reader.get(data, "kvm_modes", list))
    default = reader.get(data, "default_kvm_mode", str)
    profile = MachineProfile(
        name=reader.get(data, "name", str),
        description=str(data.get("description", "")),
        cpu=reader.get(qemu, "cpu", str, "qemu."),
        machine=reader.get(qemu, "machine", str, "qemu."),
        memory_mib=reader.get(qemu, "memory_mib", int, "qemu."),
        smp=reader.get(qemu, "smp", int, "qemu."),
        icount=reader.get(qemu, "icount", bool, "qemu."),
        pmu=_parse_pmu(reader, data),
        kvm_modes=modes,
        default_kvm_mode=default,
    )
    _check_modes(reader, modes, default)
    for key, value, form in (("machine", profile.machine, QEMU_MACHINE),
                             ("cpu", profile.cpu, QEMU_CPU)):
        if value and not form.fullmatch(value):
            reader.problems.append(Located(path, None, f"qemu.{key} {value[:80]!r} is not "
                                           f"allowed (expected {form.pattern})"))
    if profile.name and profile.name != path.stem:
        reader.problems.append(
            Located(path, None, f"name {profile.name!r} differs from the file name")
        )
    if reader.problems:
        raise UsageError(f"bad machine profile {path}", tuple(reader.problems))
    return profile


def machine_profile_names(directory: Path = MACHINES_DIR) -> list[str]:
    """Names of the available machine profiles, sorted."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_machine_profile(name: str, directory: Path = MACHINES_DIR) -> MachineProfile:
    """Load and validate configs/machines/NAME.yaml; unknown names are a UsageError."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(machine_profile_names(directory))
        raise UsageError(f"unknown machine profile {name!r} (known: {known})")
    # Bounded and located like a scenario: `rerun` reads a bundle's copy of the profile.
    return parse_machine_profile(path, load_located(path))
