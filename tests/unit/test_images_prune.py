"""`images prune` keeps the newest image sets of each kernel profile, and drops the
snapshots of the ones it removed."""

from __future__ import annotations

import json
from pathlib import Path

from harness.images import ImageSet
from harness.images.prune import stale_image_sets
from harness.machine.snapshot import META_FILE, SnapshotStore


def image_set(profile: str, created: str | None, series: tuple[str, ...] = ()) -> ImageSet:
    kernel: dict[str, object] = {"package": "p", "version": "v", "release": "r"}
    if series:
        kernel["build"] = {"series": [{"name": name} for name in series]}
    manifest = {"kernel_profile": profile, "cache_key": f"{profile}-{created}-{len(series)}",
                "kernel": kernel, "ssh_host_public_key": "k", "files": {}}
    if created is not None:
        manifest["created"] = created
    return ImageSet.from_manifest(Path(f"/cache/{profile}-{created}"), manifest)


def test_keeps_the_newest_of_each_profile() -> None:
    sets = [image_set("debian-6.1", "2026-11-01T00:00:00Z"),
            image_set("debian-6.1", "2026-11-03T00:00:00Z"),
            image_set("debian-6.1", "2026-11-02T00:00:00Z"),
            image_set("debian-5.10", "2026-10-01T00:00:00Z"),
            image_set("debian-6.1", None)]
    stale = stale_image_sets(sets, keep=2)
    assert [s.cache_key for s in stale] == ["debian-6.1-None-0",
                                            "debian-6.1-2026-11-01T00:00:00Z-0"]
    assert stale_image_sets(sets, keep=5) == []
    assert len(stale_image_sets(sets, keep=1)) == 3


def test_a_mutant_build_never_pushes_out_the_profiles_own_sets() -> None:
    own = ("base", "pmu-filter-v3")
    sets = [image_set("filter-v3", "2026-11-01T00:00:00Z", own),
            image_set("filter-v3", "2026-11-02T00:00:00Z", (*own, "deny-ignored")),
            image_set("filter-v3", "2026-11-03T00:00:00Z", (*own, "warn-in-filter-path")),
            image_set("filter-v3", "2026-11-04T00:00:00Z", (*own, "deny-ignored"))]
    stale = stale_image_sets(sets, keep=1)
    assert [s.cache_key for s in stale] == ["filter-v3-2026-11-02T00:00:00Z-3"]


def test_snapshots_of_removed_image_sets_are_orphans(tmp_path: Path) -> None:
    for key, images_key in (("a", "kept"), ("b", "gone")):
        (tmp_path / key).mkdir()
        (tmp_path / key / META_FILE).write_text(
            json.dumps({"inputs": {"images_cache_key": images_key}}))
    assert SnapshotStore(tmp_path).orphans({"kept"}) == [tmp_path / "b"]
