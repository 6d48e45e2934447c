"""Download .debs through the private apt, with a progress bar and errors that name the package."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness import status
from harness.errors import InfraError
from harness.store.apt import DebRef, PrivateApt
from harness.store.run import tail

log = logging.getLogger(__name__)

MIN_TIMEOUT = 600.0
MIN_RATE = 50_000  # bytes/s below which a download counts as stuck
POLL = 0.25
FAILED = re.compile(r"^E: Failed to fetch (?P<uri>\S+)\s+(?P<error>.*)$", re.MULTILINE)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _present(ref: DebRef, directory: Path) -> bool:
    path = directory / ref.filename
    return path.exists() and path.stat().st_size == ref.size


class Bar:
    """A progress bar on the status line (``harness.status``) where the front end draws
    one; otherwise a line when the download starts and one when it ends."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self.label, self.total = label, max(total, 1)
        self.enabled = enabled
        if enabled and not status.live():
            log.info("%s: %.1f MB ...", label, total / 1e6)

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = min(width, width * done // self.total)
        status.update(f"{self.label}: [{'#' * filled}{'.' * (width - filled)}] "
                      f"{done / 1e6:6.1f}/{self.total / 1e6:.1f} MB")

    def close(self, ok: bool) -> None:
        status.clear()
        if self.enabled:
            log.info("%s: %s", self.label, "done" if ok else "FAILED")


def _bytes_so_far(refs: Sequence[DebRef], directory: Path) -> int:
    total = 0
    for ref in refs:
        for candidate in (directory / ref.filename, directory / "partial" / ref.filename):
            if candidate.exists():
                total += candidate.stat().st_size
                break
    return total


def _failure(apt: PrivateApt, refs: Sequence[DebRef], log: Path, why: str) -> InfraError:
    text = log.read_text(errors="replace") if log.exists() else ""
    by_uri = {ref.uri: ref for ref in refs}
    named = [
        f"{by_uri[m['uri']].package} {by_uri[m['uri']].version} from {m['uri']}: {m['error']}"
        for m in FAILED.finditer(text) if m["uri"] in by_uri
    ]
    if not named:
        named = [f"{len(refs)} package(s) from {apt.spec.sources[0].uri}: {why}"]
    return InfraError("download failed: " + "; ".join(named), log_tail=tail(text),
                      log_path=log)


def _wait(process: subprocess.Popen[bytes], refs: Sequence[DebRef], directory: Path,
          bar: Bar, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            return f"timed out after {timeout:.0f} s"
        bar.update(_bytes_so_far(refs, directory))
        time.sleep(POLL)
    return None if process.returncode == 0 else f"apt-get exit status {process.returncode}"


def fetch(apt: PrivateApt, refs: Sequence[DebRef], *, progress: bool, label: str) -> list[Path]:
    """Every ref as a file in ``apt.archives``; downloads what is missing (hash-checked)."""
    missing = [ref for ref in refs if not _present(ref, apt.archives)]
    if missing:
        _download(apt, missing, progress=progress, label=label)
    for ref in missing:
        path = apt.archives / ref.filename
        if sha256_file(path) != ref.sha256:
            path.unlink()
            raise InfraError(f"{ref.package} {ref.version}: downloaded file {path.name} does "
                             f"not match the SHA256 of the signed index ({ref.uri})")
    return [apt.archives / ref.filename for ref in refs]


def _download(apt: PrivateApt, refs: Sequence[DebRef], *, progress: bool, label: str) -> None:
    total = sum(ref.size for ref in refs)
    timeout = max(MIN_TIMEOUT, total / MIN_RATE)
    log = apt.root / "log" / "download.log"
    bar = Bar(f"downloading {label} ({len(refs)} packages)", total, progress)
    command = ["apt-get", "download", "-q", *(f"{r.package}={r.version}" for r in refs)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=apt.archives, env=apt.env(), stdout=out,
                                   stderr=subprocess.STDOUT)
        why = _wait(process, refs, apt.archives, bar, timeout)
    bar.close(why is None)
    if why is not None or not all(_present(ref, apt.archives) for ref in refs):
        raise _failure(apt, refs, log, why or "apt-get reported success but files are missing")
