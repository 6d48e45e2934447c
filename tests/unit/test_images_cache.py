"""Cache keys, atomic entries and verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.images.build import entry_key, with_invocation
from harness.images.tools import TOOLS, ToolPlan
from harness.store import cache

KERNEL = {"profile": "debian-6.1", "package": "linux-image-6.1.0-41-arm64",
          "version": "6.1.158-1", "debs": {"linux-image-6.1.0-41-arm64": "ab" * 32}}


def _tools(present: bool, source: str = "x") -> list[ToolPlan]:
    return [ToolPlan(tool=t, present=present, sources={"a.c": source} if present else {})
            for t in TOOLS]


def test_digest_is_canonical() -> None:
    assert cache.digest({"a": 1, "b": [1, 2]}) == cache.digest({"b": [1, 2], "a": 1})
    assert cache.digest({"a": 1}) != cache.digest({"a": 2})


def test_key_depends_on_every_input() -> None:
    base = entry_key(KERNEL, "u1", _tools(True), {"init": "1"})
    assert base == entry_key(dict(KERNEL), "u1", _tools(True), {"init": "1"})
    assert base != entry_key({**KERNEL, "version": "6.1.158-2"}, "u1", _tools(True),
                             {"init": "1"})
    assert base != entry_key(KERNEL, "u2", _tools(True), {"init": "1"})
    assert base != entry_key(KERNEL, "u1", _tools(True, "y"), {"init": "1"})
    assert base != entry_key(KERNEL, "u1", _tools(False), {"init": "1"})
    assert base != entry_key(KERNEL, "u1", _tools(True), {"init": "2"})


def test_a_cached_source_set_names_where_this_run_read_its_series() -> None:
    # CI's red run: the entry was built by a rerun from a bundle under /tmp, so every later
    # bundle copied its series from a directory that no longer existed.
    first = {"series": [{"name": "base", "source": "/tmp/gone/kernel/series/base"}],
             "image_sha256": "cd" * 32, "build_log": "/cache/kernels/x/build.log"}
    manifest = {"kernel": {"package": "p", "build": first}, "files": {}}
    now = {"series": [{"name": "base", "source": "/repo/kernel-patches/base"}]}
    build = with_invocation(manifest, now, revision=None, prediction="")["kernel"]["build"]
    assert build["series"][0]["source"] == "/repo/kernel-patches/base"
    assert build["image_sha256"] == "cd" * 32 and build["build_log"].endswith("build.log")
    assert manifest["kernel"]["build"] is first            # the cached manifest is untouched
    debian = {"kernel": {"package": "p"}, "files": {}}       # a Debian kernel has no record
    assert "build" not in with_invocation(debian, None, revision=None, prediction="")["kernel"]


def test_a_cached_set_predicts_what_this_run_asks() -> None:
    # The same kernel (base + the posted v3 as an mbox) built first with --revision v3, then
    # asked without: the second run must not inherit the first one's prediction.
    manifest = {"kernel": {"package": "p", "revision": "v3", "prediction": "revision v3 "
                                                                           "(--revision)"},
                "files": {}}
    again = with_invocation(manifest, None, revision=None, prediction="version rules")
    assert again["kernel"]["revision"] is None
    assert again["kernel"]["prediction"] == "version rules"
    assert manifest["kernel"]["revision"] == "v3"            # the cached manifest is untouched


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "pmu-harness"


def _entry(directory: Path) -> None:
    (directory / "Image").write_bytes(b"kernel" * 100)
    (directory / "initrd").write_bytes(b"cpio")
    cache.write_manifest(directory, {"files": cache.describe_files(directory,
                                                                   ["Image", "initrd"])})


def test_atomic_dir_publishes_only_on_success(cache_home: Path) -> None:
    final = cache.section_dir("images") / "e"
    with pytest.raises(RuntimeError), cache.atomic_dir(final) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("build failed")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []
    with cache.atomic_dir(final) as tmp:
        _entry(tmp)
    assert cache.verify_entry(final) == []


def test_entry_without_manifest_is_not_an_entry(tmp_path: Path) -> None:
    (tmp_path / "Image").write_bytes(b"x")
    assert cache.read_manifest(tmp_path) is None
    assert "no complete manifest" in cache.verify_entry(tmp_path)[0]


def test_truncation_and_corruption_are_detected(tmp_path: Path) -> None:
    _entry(tmp_path)
    assert cache.verify_entry(tmp_path) == []
    with (tmp_path / "Image").open("r+b") as handle:
        handle.truncate(10)
    assert "Image: size 10" in cache.verify_entry(tmp_path, quick=True)[0]
    _entry(tmp_path)
    data = bytearray((tmp_path / "initrd").read_bytes())
    data[0] ^= 1
    (tmp_path / "initrd").write_bytes(bytes(data))
    assert "initrd: sha256" in cache.verify_entry(tmp_path, quick=True)[0]


def test_quick_verify_trusts_unchanged_files_only(tmp_path: Path) -> None:
    _entry(tmp_path)
    assert cache.verify_entry(tmp_path) == []
    stamps = json.loads((tmp_path / cache.STAMPS).read_text())
    assert set(stamps) == {"Image", "initrd"}
    # Same size, same stamp: quick mode does not re-hash (a full verify would).
    manifest = json.loads((tmp_path / cache.MANIFEST).read_text())
    manifest["files"]["initrd"]["sha256"] = "0" * 64
    (tmp_path / cache.MANIFEST).write_text(json.dumps(manifest))
    assert cache.verify_entry(tmp_path, quick=True) == []
    assert cache.verify_entry(tmp_path) != []
