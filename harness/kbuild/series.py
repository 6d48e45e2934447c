"""Patch series: a directory of numbered patches (with an optional ``series.yaml``) or an
mbox as ``b4 am`` writes it. Loaded into memory once, hashed, and applied with GNU patch.

A series is applied into a *staging* directory that holds only the files its patches touch
(copied from the pristine tree): applying needs no copy of the whole tree, and a patch that
does not apply is found before the build tree is changed at all.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InfraError, Located, UsageError
from harness.paths import PROJECT_ROOT

PATCHES_DIR = PROJECT_ROOT / "kernel-patches"
PATCH_SUFFIXES = (".patch", ".diff")
SERIES_FILE = "series.yaml"
MBOX_FROM = re.compile(rb"^From [^\n]*$", re.MULTILINE)
# A name in a profile's `series:` list is a directory under kernel-patches/: never a path.
SERIES_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DIFF_TARGET = re.compile(r"^\+\+\+ (?P<path>\S+)", re.MULTILINE)
DIFF_SOURCE = re.compile(r"^--- (?P<path>\S+)", re.MULTILINE)
HUNK_FAILED = re.compile(r"Hunk #(?P<hunk>\d+) FAILED at (?P<line>\d+)")
PATCHING_FILE = re.compile(r"^patching file (?P<path>\S+)", re.MULTILINE)
APPLY_TIMEOUT = 60.0
MAX_PATCH_BYTES = 16 << 20  # a series file bigger than this is not a patch series


@dataclass(frozen=True)
class Patch:
    """One patch of a series: where it came from (for messages) and its exact bytes."""

    label: str        # "kernel-patches/pmu-filter-v3/0002-...patch" or "my.mbx [3/5]"
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def touched(self) -> list[str]:
        """Tree-relative paths the patch changes, creates or deletes (``-p1``)."""
        text = self.data.decode("utf-8", errors="replace")
        paths = set()
        for match in (*DIFF_TARGET.finditer(text), *DIFF_SOURCE.finditer(text)):
            path = match["path"]
            if path == "/dev/null":
                continue
            parts = path.split("/", 1)
            if len(parts) == 2 and _safe_relative(parts[1]):
                paths.add(parts[1])
        return sorted(paths)

    def hunk(self, target: str, number: int) -> str:
        """The ``@@`` line of hunk ``number`` (1-based) of ``target`` in this patch."""
        text = self.data.decode("utf-8", errors="replace")
        section = _file_section(text, target)
        headers = [line for line in section.splitlines() if line.startswith("@@")]
        return headers[number - 1] if 0 < number <= len(headers) else "?"


@dataclass(frozen=True)
class Series:
    """An ordered list of patches and what its ``series.yaml`` says about it (if any)."""

    name: str
    source: Path
    patches: tuple[Patch, ...]
    meta: dict[str, Any]

    def key(self) -> dict[str, Any]:
        """What identifies the series' effect in a build key: every patch's SHA-256."""
        return {"name": self.name, "patches": [p.sha256 for p in self.patches]}

    def touched(self) -> list[str]:
        return sorted({path for patch in self.patches for path in patch.touched()})


def _safe_relative(path: str) -> bool:
    parts = Path(path).parts
    return bool(parts) and not Path(path).is_absolute() and ".." not in parts


def _file_section(text: str, target: str) -> str:
    """The part of a patch between ``+++ b/<target>`` and the next file header."""
    start = text.find(f"+++ b/{target}")
    if start < 0:
        start = text.find(f"/{target}")
    if start < 0:
        return ""
    end = text.find("\n--- ", start)
    return text[start:end if end >= 0 else len(text)]


def resolve(reference: str, profile_path: Path | None = None) -> Path:
    """A profile's series reference: a name under kernel-patches/, or (given on the command
    line, or as an absolute path in a profile) a directory or mbox file of the user's."""
    if SERIES_NAME.fullmatch(reference):
        path = PATCHES_DIR / reference
        if path.is_dir():
            return path
    candidate = Path(reference).expanduser()
    if candidate.is_absolute() and candidate.exists():
        return candidate
    known = ", ".join(sorted(p.name for p in PATCHES_DIR.iterdir() if p.is_dir())) \
        if PATCHES_DIR.is_dir() else "none"
    where = f"{profile_path}: " if profile_path else ""
    raise UsageError(f"{where}unknown series {reference!r}: not a directory of kernel-patches/ "
                     f"(known: {known}) nor an existing absolute path to a patch directory "
                     "or mbox")


def load_series(path: Path) -> Series:
    """A directory of numbered patches or an mbox file; every problem is the user's."""
    if path.is_dir():
        return _load_directory(path)
    if path.is_file():
        data = _read_bounded(path)
        patches = split_mbox(data, path.name)
        if not patches:
            raise UsageError(f"{path}: no patch in it (expected an mbox as `b4 am` writes it, "
                             "or a directory of numbered .patch files)")
        return Series(path.stem, path, tuple(patches), {})
    raise UsageError(f"{path}: no such patch directory or mbox file")


def _read_bounded(path: Path) -> bytes:
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")
    if path.stat().st_size > MAX_PATCH_BYTES:
        raise UsageError(f"{path}: {path.stat().st_size} bytes; a series file may have at "
                         f"most {MAX_PATCH_BYTES}")
    return path.read_bytes()


def _load_directory(path: Path) -> Series:
    meta = _read_meta(path)
    listed = meta.get("patches")
    if listed is None:
        files = sorted(p for p in path.iterdir() if p.suffix in PATCH_SUFFIXES)
    else:
        files = _listed_files(path, listed)
    if not files:
        raise UsageError(f"{path}: no *.patch or *.diff files in it")
    read = [(f, _read_bounded(f)) for f in files]
    # `git format-patch --cover-letter` writes 0000-cover-letter.patch, which has no diff:
    # as in an mbox, it is no patch (a file series.yaml lists by name is always one).
    patches = tuple(Patch(_label(f), data) for f, data in read
                    if listed is not None or carries_diff(data))
    if not patches:
        raise UsageError(f"{path}: none of its *.patch or *.diff files holds a diff")
    return Series(path.name, path, patches, meta)


def _listed_files(path: Path, listed: Any) -> list[Path]:
    meta_file = path / SERIES_FILE
    if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
        raise UsageError(f"{meta_file}: patches must be a list of file names")
    files = []
    for name in listed:
        if Path(name).name != name or not (path / name).is_file():
            raise UsageError(f"{meta_file}: patch {name!r} is not a file in {path}")
        files.append(path / name)
    return files


def _read_meta(path: Path) -> dict[str, Any]:
    meta_file = path / SERIES_FILE
    if not meta_file.is_file():
        return {}
    try:
        raw = yaml.safe_load(_read_bounded(meta_file).decode("utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise UsageError("bad series.yaml", (Located(meta_file, line, f"not valid YAML: "
                                                     f"{getattr(exc, 'problem', exc)}"),)
                         ) from exc
    if not isinstance(raw, dict):
        raise UsageError(f"{meta_file}: must be a YAML mapping")
    return raw


def _label(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def mbox_messages(data: bytes) -> list[bytes]:
    """Every message of an mbox, in order (text before the first ``From `` line is one)."""
    starts = [m.start() for m in MBOX_FROM.finditer(data)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def carries_diff(message: bytes) -> bool:
    """Whether a message (or patch file) holds a diff: a cover letter does not."""
    return b"\n+++ " in message or message.startswith(b"+++ ")


def split_mbox(data: bytes, label: str) -> list[Patch]:
    """The messages of an mbox that carry a diff, in order; the cover letter has none."""
    messages = [c for c in mbox_messages(data) if carries_diff(c)]
    return [Patch(f"{label} [{i}/{len(messages)}] {_subject(c)}", c)
            for i, c in enumerate(messages, 1)]


def _subject(message: bytes) -> str:
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    subject = " ".join(str(parsed.get("Subject", "")).split())
    return subject[:100]


def apply_series(series: list[Series], pristine: Path, staging: Path) -> list[str]:
    """Apply every patch in order into ``staging`` (only the touched files, copied from
    ``pristine``); return the touched paths. A patch that does not apply is the user's
    error, naming the patch, the file and the hunk."""
    touched = sorted({p for s in series for p in s.touched()})
    for relative in touched:
        origin = pristine / relative
        if origin.is_file():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, staging / relative)
    for one in series:
        for patch in one.patches:
            _apply_one(patch, staging)
    return touched


def _apply_one(patch: Patch, staging: Path) -> None:
    # --fuzz=0: like `git am`, a hunk whose context moved is a failure, not a guess.
    command = ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch",
               "--reject-file=-", "-d", str(staging)]
    try:
        done = subprocess.run(command, input=patch.data, capture_output=True,
                              timeout=APPLY_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise InfraError("GNU patch is not installed (apt-get install patch)") from exc
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"patch timed out on {patch.label}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
        raise UsageError(describe_failure(patch, output))


def describe_failure(patch: Patch, output: str) -> str:
    """``patch``'s complaint as: which patch, which file, which hunk (its ``@@`` line)."""
    lines = [f"series does not apply: {patch.label}"]
    current = "?"
    for line in output.splitlines():
        target = PATCHING_FILE.match(line)
        if target:
            current = target["path"]
        failed = HUNK_FAILED.search(line)
        if failed:
            number = int(failed["hunk"])
            lines.append(f"  {current}: hunk #{number} FAILED at line {failed['line']}: "
                         f"{patch.hunk(current, number)}")
    if len(lines) == 1:
        lines.append("  " + " | ".join(output.strip().splitlines()[-4:]))
    return "\n".join(lines)
