"""The narrow view of L1 that L2 runners need: run a command, copy files."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Protocol


class CommandResult(Protocol):
    @property
    def exit_status(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


class Remote(Protocol):
    def run(self, command: str, timeout: float) -> CommandResult: ...
    def put(self, local: Path, remote: str, timeout: float = ...) -> None: ...


L1_TOOLS = "/opt/pmu-harness"
PROBE_BINARY = f"{L1_TOOLS}/bin/pmu-probe"
PRELOAD_LIBRARY = f"{L1_TOOLS}/lib/libpmufilter.so"
L2_KERNEL = f"{L1_TOOLS}/l2/Image"
L2_INITRD = f"{L1_TOOLS}/l2/initrd"
REMOTE_WORK = "/tmp/pmu-harness"


def prepare_case(remote: Remote, filter_text: str, case_dir: Path, label: str) -> str:
    """Keep the filter file in the artefacts directory, send it into L1, return its path
    there. Each case has its own directory in L1, so cases never read each other's files."""
    remote_dir = f"{REMOTE_WORK}/{case_dir.parent.name}/{case_dir.name}"
    remote_file = f"{remote_dir}/{label}.filter"
    remote.run(f"mkdir -p {shlex.quote(remote_dir)}", timeout=30)
    local = case_dir / f"{label}.filter"
    local.write_text(filter_text)
    remote.put(local, remote_file)
    return remote_file


def save_output(result: CommandResult, local_base: Path) -> None:
    """``<base>.stdout`` and ``<base>.stderr`` beside each other in the artefacts."""
    Path(f"{local_base}.stdout").write_text(result.stdout)
    Path(f"{local_base}.stderr").write_text(result.stderr)
