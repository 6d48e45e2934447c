"""L1: the arm64 machine under QEMU TCG that runs KVM, reached over SSH.

``L1Machine`` owns one machine's whole life; the other modules each do one job for it:
``profile`` (machine profiles), ``qemu`` (command line), ``process`` (launch and reap),
``console`` (serial log: markers, panics), ``qmp`` (monitor), ``ssh`` (remote commands),
``snapshot`` (saved booted states), ``facts`` (what L1 reports about itself).
"""

from harness.machine.l1 import BootMode, L1Machine
from harness.machine.profile import MachineProfile, load_machine_profile

__all__ = [
    "BootMode",
    "L1Machine",
    "MachineProfile",
    "load_machine_profile",
]
