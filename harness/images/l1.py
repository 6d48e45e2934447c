"""L1's initramfs: the shared userspace cpio followed by a small per-image-set cpio.

The kernel unpacks concatenated cpio archives in order, so the per-set part (init, the
kernel's modules, the L2 kernel and initramfs, SSH keys, harness tools) is appended to a
copy of the cached userspace archive instead of rebuilding the whole tree. Uncompressed:
under TCG the kernel unpacks a plain cpio faster than it decompresses one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from harness.images.cpio import CpioWriter
from harness.images.kernel import KernelFiles
from harness.images.keys import SshKeys
from harness.images.modules import module_name, read_module
from harness.images.recipe import L1_DIR

MODULES_LIST = "etc/pmu-harness/modules"


def _parents(writer: CpioWriter, made: set[str], path: str) -> None:
    parents = [str(p) for p in reversed(PurePosixPath(path).parents) if str(p) != "."]
    for parent in parents:
        if parent not in made:
            writer.add_dir(parent)
            made.add(parent)


def write_overlay(out: Path, *, kernel: KernelFiles, l2_initrd: Path, keys: SshKeys,
                  tools: dict[str, Path], info: dict[str, Any]) -> list[str]:
    """The per-set cpio. Returns the guest paths of the modules, in load order."""
    made: set[str] = set()
    with open_private(out) as raw:
        writer = CpioWriter(raw)
        _parents(writer, made, "etc/pmu-harness/x")
        writer.add_file("init", L1_DIR / "init", mode=0o755)
        module_paths = _add_modules(writer, made, kernel)
        writer.add_bytes(MODULES_LIST, "".join(f"/{p}\n" for p in module_paths).encode())
        writer.add_bytes("etc/pmu-harness/image.json",
                         (json.dumps(info, indent=1, sort_keys=True) + "\n").encode())
        _parents(writer, made, "opt/pmu-harness/l2/x")
        writer.add_file("opt/pmu-harness/l2/Image", kernel.image, mode=0o644)
        writer.add_file("opt/pmu-harness/l2/initrd", l2_initrd, mode=0o644)
        for guest, host in sorted(tools.items()):
            _parents(writer, made, guest)
            writer.add_file(guest, host, mode=0o755)
        writer.add_file("etc/dropbear/dropbear_ed25519_host_key", keys.host_private_dropbear,
                        mode=0o600)
        writer.add_dir("root", 0o700)
        writer.add_dir("root/.ssh", 0o700)
        writer.add_bytes("root/.ssh/authorized_keys", (keys.client_public + "\n").encode(),
                         mode=0o600)
        writer.finish()
    return module_paths


def _add_modules(writer: CpioWriter, made: set[str], kernel: KernelFiles) -> list[str]:
    """Modules decompressed (busybox insmod takes plain ELF), under lib/modules/<release>."""
    paths = []
    for source in kernel.modules:
        guest = f"usr/lib/modules/{kernel.release}/{module_name(source)}.ko"
        _parents(writer, made, guest)
        writer.add_bytes(guest, read_module(source), mode=0o644)
        paths.append(guest)
    return paths


def open_private(path: Path) -> BinaryIO:
    """``path`` created afresh for writing, readable by its owner only from the first byte:
    L1's initramfs holds the dropbear host private key. (A chmod after writing would leave
    a window, and a file left over from an older build keeps its mode: it is replaced.)"""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "wb")


def concatenate(parts: list[Path], out: Path) -> None:
    with open_private(out) as target:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, target, 1 << 22)
