"""The narrow view of L1 that L2 runners need: run a command, copy files."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
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


# A filter file travels inside its command only while that stays a short line for L1's
# shell (commands are written to a running shell, harness/machine/shell.py; a one-off
# exec would be refused by dropbear beyond its MAX_CMD_LEN, 9000 bytes): larger ones go
# by SFTP.
INLINE_FILE_LIMIT = 6000


@dataclass(frozen=True)
class StagedFile:
    """A file for one run, kept in the artefacts and on its way into L1."""

    path: str  # where the run finds it in L1
    # Shell that writes it there, to run before the command that reads it ("" when it was
    # sent ahead): one SSH round trip per run instead of three (mkdir, SFTP put, the run),
    # each of which costs ~0.1-0.2 s against an L1 under TCG.
    prelude: str

    def then(self, command: str) -> str:
        return f"{self.prelude} && {command}" if self.prelude else command


def remote_case_dir(case_dir: Path) -> str:
    """The case's own directory in L1 (made by the first ``stage_file`` of the run)."""
    return f"{REMOTE_WORK}/{case_dir.parent.name}/{case_dir.name}"


def stage_file(remote: Remote, text: str, case_dir: Path, name: str) -> StagedFile:
    """Keep ``text`` as ``<case_dir>/<name>`` and make it reach L1 with the run that reads
    it. Each case has its own directory in L1, so cases never read each other's files."""
    remote_dir = remote_case_dir(case_dir)
    remote_file = f"{remote_dir}/{name}"
    local = case_dir / name
    local.write_text(text)
    # printf is a shell builtin: no process is started to write the file.
    prelude = (f"mkdir -p {shlex.quote(remote_dir)} && "
               f"printf %s {shlex.quote(text)} > {shlex.quote(remote_file)}")
    # Measured as it travels: the SSH layer quotes the whole command once more.
    if len(shlex.quote(prelude)) <= INLINE_FILE_LIMIT:
        return StagedFile(remote_file, prelude)
    remote.run(f"mkdir -p {shlex.quote(remote_dir)}", timeout=30)
    remote.put(local, remote_file)
    return StagedFile(remote_file, "")


def save_output(result: CommandResult, local_base: Path) -> None:
    """``<base>.stdout`` and ``<base>.stderr`` beside each other in the artefacts."""
    Path(f"{local_base}.stdout").write_text(result.stdout)
    Path(f"{local_base}.stderr").write_text(result.stderr)
