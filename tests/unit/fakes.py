"""Stand-ins for what a case and a group need of the world, so that the real execution code
(``harness.execute``: the probe runner, filter-file rendering, the probe's JSON parser, the
oracle, the verdict, retries, bundles) runs without QEMU:

- ``image_set``: an ``ImageSet`` as the image cache would hand it out (nothing is booted
  from it, so its files need not exist);
- ``ReplayRemote``: L1 as the L2 runners see it, answering ``pmu-probe`` with probe output
  captured on real kernels;
- ``Boots``: the boot factory of ``run_group``, one scripted L1 per boot, counted;
- ``record_progress`` and ``stuck_progress``: progress callbacks a spawned worker can
  unpickle (module-level functions).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from harness.errors import InfraError
from harness.execute import leaks
from harness.execute.group import BootedL1
from harness.images import ImageSet
from harness.l2.remote import PROBE_BINARY, REMOTE_WORK, CommandResult
from harness.machine.facts import L1Facts
from harness.machine.profile import MachineProfile
from harness.paths import GUEST_IMAGES_DIR
from harness.plan import RunOptions
from harness.results import CaseResult

# pmu-probe output captured on real L1s (guest-images/probe/testdata/README.rst): Debian
# 6.1.0-56-arm64 and 5.10.0-32-arm64, on QEMU max, cortex-a57 and max with icount.
PROBE_TESTDATA = GUEST_IMAGES_DIR / "probe" / "testdata"
# cycle-counter-deny on max, on kernels built with revisions base, v1 and v3 of the series.
REVISIONS = Path(__file__).parent / "data" / "revisions"


def probe_capture(kernel: str, machine: str, name: str) -> Path:
    """``guest-images/probe/testdata/<kernel>-<machine>-<name>.json``."""
    path = PROBE_TESTDATA / f"{kernel}-{machine}-{name}.json"
    assert path.is_file(), path
    return path


def image_set(directory: Path, *, profile: str = "debian-6.1",
              package: str = "linux-image-6.1.0-56-arm64", version: str = "6.1.192-1",
              release: str = "6.1.0-56-arm64", revision: str | None = None) -> ImageSet:
    """The image set of one kernel profile, as ``ImageSet.from_manifest`` reads a cache
    entry; the defaults are the Debian 6.1 kernel the probe captures were made on."""
    directory.mkdir(parents=True, exist_ok=True)
    kernel: dict[str, object] = {"package": package, "version": version, "release": release}
    if revision is not None:
        kernel["revision"] = revision
    manifest = {"kernel_profile": profile, "cache_key": f"{profile}-" + "0" * 16,
                "kernel": kernel, "ssh_host_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
                "files": {"Image": {"sha256": "a" * 64},
                          "l1-initrd.cpio": {"sha256": "b" * 64}}}
    return ImageSet.from_manifest(directory, manifest)


@dataclass(frozen=True)
class Output:
    """What a command in L1 gave (``harness.l2.remote.CommandResult``)."""

    exit_status: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class Capture:
    """The probe's output for one case: the unfiltered control's and the filtered run's."""

    filtered: Path
    control: Path | None = None


@dataclass
class ReplayRemote:
    """L1 as the L2 runners see it. ``pmu-probe <remote dir>/<case slug>/<label>.filter``
    is answered with the capture for that case slug (``<scenario>-<mode>``) and label
    (``control`` or ``filtered``); a file written with ``printf`` is kept as sent; any other
    command (``mkdir -p``) succeeds silently.

    ``lost_on``: case slugs whose probe run finds L1 gone (SSH raises ``InfraError``).
    Every command and every file sent is kept, for the test to look at."""

    captures: Mapping[str, Capture]
    lost_on: frozenset[str] = frozenset()
    commands: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    # What L1's kernel prints on its console while a case's filtered run goes (by case
    # slug): lines cut from a real console log. ``console`` is set by the boot.
    kernel_says: Mapping[str, str] = field(default_factory=dict)
    console: Path | None = None
    # kmemleak in L1's kernel (``harness.execute.leaks``): None, not built in; else what
    # its report file holds after a scan (text cut from a real report, or "" for no leak).
    kmemleak: str | None = None

    def run(self, command: str, timeout: float) -> CommandResult:
        """The runners' shell, as far as they use it: ``A && B && ...`` of ``mkdir -p``,
        ``printf %s TEXT > FILE`` (a file sent with its run) and ``[exec] pmu-probe FILE``;
        and the kmemleak commands of ``harness.execute.leaks``."""
        self.commands.append(command)
        if command == leaks.PREPARE:
            return Output(0, "absent\n" if self.kmemleak is None else "on\n")
        if command == leaks.SCAN:
            assert self.kmemleak is not None, "a scan on a kernel without kmemleak"
            return Output(0, self.kmemleak)
        result: CommandResult = Output(0)
        for words in _and_list(command):
            if words[:2] == ["printf", "%s"] and words[3:4] == [">"]:
                self.files[words[4]] = words[2]
            elif PROBE_BINARY in words:
                result = self._probe(command, words[words.index(PROBE_BINARY) + 1])
        return result

    def _probe(self, command: str, filter_path: str) -> CommandResult:
        remote_file = PurePosixPath(filter_path)
        assert str(remote_file) in self.files, f"{remote_file} run before it was sent"
        slug, label = remote_file.parent.name, remote_file.name.removesuffix(".filter")
        if slug in self.lost_on:
            raise InfraError(f"SSH connection to L1 lost while running {command}")
        capture = self.captures[slug]
        path = capture.filtered if label == "filtered" else capture.control
        assert path is not None, f"{slug}: no control run captured"
        text = path.read_text()
        _same_file(text, remote_file)
        if label == "filtered" and slug in self.kernel_says and self.console is not None:
            with self.console.open("a") as console:
                console.write(self.kernel_says[slug])
        return Output(0, text)

    def put(self, local: Path, remote: str, timeout: float = 60.0) -> None:
        self.files[remote] = local.read_text()

    def probe_runs(self) -> list[str]:
        """``<slug>/<label>`` of every pmu-probe run, in order."""
        runs = []
        for command in self.commands:
            for words in _and_list(command):
                if PROBE_BINARY in words:
                    path = PurePosixPath(words[words.index(PROBE_BINARY) + 1])
                    runs.append("/".join(path.parts[-2:]).removesuffix(".filter"))
        return runs


def _and_list(command: str) -> list[list[str]]:
    """``a b && c d`` as ``[[a, b], [c, d]]``."""
    commands: list[list[str]] = [[]]
    for word in shlex.split(command):
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    return commands


def _same_file(capture: str, remote_file: PurePosixPath) -> None:
    """A capture made by the harness itself names the filter file it ran: the same case and
    label as the file the harness sends now (captures made by hand name their own files)."""
    import json

    captured = PurePosixPath(json.loads(capture).get("filter_file", ""))
    if captured.is_relative_to(REMOTE_WORK):
        assert captured.parts[-2:] == remote_file.parts[-2:], (captured, remote_file)


@dataclass
class FakeL1:
    """A booted L1 (``harness.execute.group.BootedL1``)."""

    ssh: ReplayRemote
    run_dir: Path
    kvm_mode: str = "vhe"
    console_log: Path | None = None

    def facts(self) -> L1Facts:
        return L1Facts(kernel_release="6.1.0-56-arm64", kvm_mode=self.kvm_mode, kvm_error=None,
                       dev_kvm=True, pmu_driver="armv8_pmuv3", pmu_counters=7)


Boot = ReplayRemote | BaseException
"""One boot of a script: the L1 comes up with this remote, or the boot raises this."""


@dataclass
class Boots:
    """``run_group``'s boot factory, scripted: boot N gives ``script[N]`` (the last entry
    again once the script runs out). ``events`` says what happened, in order."""

    script: Sequence[Boot]
    events: list[str] = field(default_factory=list)
    booted: list[FakeL1] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(1 for e in self.events if e.startswith("boot "))

    def __call__(self, images: ImageSet, profile: MachineProfile, group_dir: Path,
                 options: RunOptions) -> AbstractContextManager[BootedL1]:
        return self._boot(group_dir)

    @contextmanager
    def _boot(self, group_dir: Path) -> Iterator[BootedL1]:
        number = self.count + 1
        step = self.script[min(number, len(self.script)) - 1]
        self.events.append(f"boot {number}")
        if isinstance(step, BaseException):
            raise step
        run_dir = group_dir / "l1"
        l1 = FakeL1(step, run_dir, console_log=run_dir / f"console-{number}-cold.log")
        l1.run_dir.mkdir(parents=True, exist_ok=True)
        assert l1.console_log is not None
        l1.console_log.write_text(f"boot {number}\n")
        step.console = l1.console_log
        (l1.run_dir / f"command-{number}-cold.txt").write_text("qemu-system-aarch64 ...\n")
        self.booted.append(l1)
        try:
            yield l1
        finally:
            self.events.append(f"shutdown {number}")


# -- what a spawned worker is handed -------------------------------------------------------


PROGRESS_FILE = "progress.txt"


def record_progress(result: CaseResult) -> None:
    """Append ``<kernel>/<machine> <case>`` to ``progress.txt`` in the run directory (the
    parent of the result's group directory): the order workers reported in."""
    assert result.artefacts is not None
    path = Path(result.artefacts)  # the group's directory, or a case's inside it
    group_dir = path if path.name == f"{result.kernel}-{result.machine}" else path.parent
    with (group_dir.parent / PROGRESS_FILE).open("a") as out:
        out.write(f"{result.kernel}/{result.machine} {result.name}\n")


def stuck_progress(result: CaseResult) -> None:
    """A worker that reports its first result and then never gets any further: what a
    worker wedged in a wait without a deadline looks like from the pool."""
    time.sleep(600)


def shrink_pool_deadlines(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The pool's deadlines shrunk from minutes to ``seconds`` (checked every 50 ms), and a
    group run in the test's own process made an error: only a worker can be stopped."""
    def in_process(*args: object) -> object:
        raise AssertionError("a group ran in-process: nothing could stop it")

    monkeypatch.setattr("harness.execute.pool.run_group", in_process)
    monkeypatch.setattr("harness.execute.pool.group_deadline_seconds", lambda g: seconds)
    monkeypatch.setattr("harness.execute.pool.POLL_SECONDS", 0.05)
