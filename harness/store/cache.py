"""Cache entries: keys, locks, atomic creation, and verification against a manifest.

An entry is a directory whose ``manifest.json`` (written last, then the directory renamed
into place) records the size and SHA-256 of every file. A directory without a manifest
is never used. Verification hashes everything; after a clean full check it remembers each
file's (size, mtime, inode) so that the next quick check only re-hashes what changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.paths import cache_dir
from harness.store.download import sha256_file

MANIFEST = "manifest.json"
STAMPS = ".verified.json"
TMP_PREFIX = ".tmp-"


def digest(value: Any) -> str:
    """SHA-256 of a JSON-serialisable value in canonical form: the basis of every key."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def hash_paths(paths: list[Path], root: Path) -> dict[str, str]:
    """``relative path -> sha256`` for files (directories are walked), for recipe keys."""
    result: dict[str, str] = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                result[file.relative_to(root).as_posix()] = sha256_file(file)
    return result


def section_dir(section: str) -> Path:
    path = cache_dir() / section
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_path(section: str, name: str) -> Path:
    return cache_dir() / "locks" / f"{section}-{name}.lock"


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temp dir next to ``final``; on success it replaces ``final`` in one rename.

    The caller holds ``final``'s lock, so temp dirs of the same name are leftovers of a
    killed build and are removed first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(f"{TMP_PREFIX}{final.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            old = final.parent / f"{TMP_PREFIX}{final.name}-old-{os.getpid()}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_record(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def describe_files(directory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    return {name: file_record(directory / name) for name in names}


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last; its file hashes were just computed, so remember the files'
    stamps too (a quick verify right after a build need not re-hash)."""
    (directory / STAMPS).write_text(json.dumps(
        {name: _stamp(directory / name) for name in manifest.get("files", {})}))
    tmp = directory / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a complete entry, or None (missing, half written, unreadable)."""
    try:
        value = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("files"), dict) else None


def _stamp(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _load_stamps(directory: Path) -> dict[str, list[int]]:
    try:
        value = json.loads((directory / STAMPS).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _check_file(directory: Path, name: str, record: dict[str, Any],
                stamps: dict[str, list[int]], quick: bool) -> str | None:
    path = directory / name
    if not path.is_file():
        return f"{name}: missing"
    if path.stat().st_size != record.get("size"):
        return f"{name}: size {path.stat().st_size}, manifest says {record.get('size')}"
    if quick and stamps.get(name) == _stamp(path):
        return None
    actual = sha256_file(path)
    if actual != record.get("sha256"):
        return f"{name}: sha256 {actual[:16]}..., manifest says {str(record.get('sha256'))[:16]}..."
    return None


def verify_entry(directory: Path, *, quick: bool = False) -> list[str]:
    """Problems with an entry (empty: good). ``quick`` trusts files unchanged since a check."""
    manifest = read_manifest(directory)
    if manifest is None:
        return [f"{directory}: no complete manifest (partly written or not an entry)"]
    stamps = _load_stamps(directory) if quick else {}
    problems = []
    fresh: dict[str, list[int]] = {}
    for name, record in sorted(manifest["files"].items()):
        problem = _check_file(directory, name, record, stamps, quick)
        if problem:
            problems.append(problem)
        else:
            fresh[name] = _stamp(directory / name)
    if not problems and fresh != stamps:
        # A read-only cache still verifies; it just cannot remember.
        with contextlib.suppress(OSError):
            (directory / STAMPS).write_text(json.dumps(fresh))
    return problems


def stale_temporaries(section: Path) -> list[Path]:
    """Half-built entries left by interrupted builds."""
    return sorted(p for p in section.glob(f"{TMP_PREFIX}*") if p.is_dir())
