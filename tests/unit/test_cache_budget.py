"""The cache's size cap: least recently used entries go first, an entry in use (leased by a
running command, or being built) never goes, hard-linked files count once, and
``images prune`` says what it frees by kind. Over a fake cache tree with real files, real
``flock``s and real directory times; the sizes and the expected survivors are worked out
by hand below, not by the code under test."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.images.build import SECTION as IMAGES
from harness.kbuild.build import RESULTS, WORKSPACES
from harness.machine.snapshot import SECTION as SNAPSHOTS
from harness.store import budget, cache

MIB = 1 << 20


@pytest.fixture(autouse=True)
def _no_leases_left() -> Iterator[None]:
    yield
    budget.release_all()


def entry(root: Path, section: str, name: str, mib: int, used: int) -> Path:
    path = root / section / name
    path.mkdir(parents=True)
    (path / "blob").write_bytes(b"x" * (mib * MIB))
    os.utime(path, (used, used))
    return path


def fake_cache(root: Path) -> dict[str, Path]:
    """11 MiB: four entries (least recently used first: s, a, k, w) and 1 MiB of apt."""
    (root / "apt").mkdir(parents=True)
    (root / "apt" / "pkg.deb").write_bytes(b"d" * MIB)
    return {"s": entry(root, "snapshots", "s", 2, used=500),
            "a": entry(root, "images", "a", 3, used=1000),
            "k": entry(root, "kernels", "k", 1, used=2000),
            "w": entry(root, "kbuild", "w", 4, used=3000)}


def left(paths: dict[str, Path]) -> set[str]:
    return {name for name, path in paths.items() if path.exists()}


def test_sizes_are_read_in_binary_units() -> None:
    assert budget.parse_size("10G", "X") == 10 * 1024 ** 3
    assert budget.parse_size("512M", "X") == 512 * 1024 ** 2
    assert budget.parse_size("1.5GiB", "X") == 1536 * 1024 ** 2
    assert budget.parse_size(" 3000000 ", "X") == 3000000
    for bad in ("", "ten", "10X", "-1G", "1K"):
        with pytest.raises(UsageError, match=r"^X: "):
            budget.parse_size(bad, "X")


def test_the_cap_comes_from_the_environment_or_the_default() -> None:
    assert budget.configured_cap({}) == 10 * 1024 ** 3
    assert budget.configured_cap({budget.CAP_VARIABLE: "20G"}) == 20 * 1024 ** 3
    with pytest.raises(UsageError, match=budget.CAP_VARIABLE):
        budget.configured_cap({budget.CAP_VARIABLE: "lots"})


def test_a_bad_cap_is_a_usage_error_before_anything_runs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(budget.CAP_VARIABLE, "lots")
    assert main(["list"]) == 2
    assert "PMU_HARNESS_CACHE_MAX: 'lots' is not a size" in capsys.readouterr().err


def test_the_sections_are_those_the_builders_write() -> None:
    assert set(budget.EVICTABLE) == {IMAGES, RESULTS, WORKSPACES, SNAPSHOTS}


def test_the_build_lock_is_the_builders_lock(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = cache.section_dir(IMAGES) / "debian-6.1-0123"
    assert budget.build_lock_path(path) == cache.lock_path(IMAGES, "debian-6.1-0123")


def test_least_recently_used_go_first_until_under_the_cap(tmp_path: Path) -> None:
    paths = fake_cache(tmp_path)
    done = budget.enforce(tmp_path, 6 * MIB)
    # 11 MiB: s (2) brings it to 9, a (3) to 6: at the cap.
    assert left(paths) == {"k", "w"}
    assert (done.before, done.after) == (11 * MIB, 6 * MIB)
    assert [e.path.name for e in done.evicted] == ["s", "a"]
    assert (tmp_path / "apt" / "pkg.deb").exists()  # downloads are never evicted


def test_under_the_cap_nothing_goes(tmp_path: Path) -> None:
    paths = fake_cache(tmp_path)
    assert budget.enforce(tmp_path, 11 * MIB).evicted == ()
    assert left(paths) == {"s", "a", "k", "w"}


def test_an_entry_leased_by_another_process_is_never_evicted(tmp_path: Path) -> None:
    paths = fake_cache(tmp_path)
    # Another command (its own process) restoring from snapshot s holds its lease.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from harness.store import budget; "
         "budget.take(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()",
         str(paths["s"])], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = budget.enforce(tmp_path, 6 * MIB)
    finally:
        holder.communicate("")
    # s (2 MiB) stays; a, k and w go: 11 -> 8 -> 7 -> 3 MiB.
    assert left(paths) == {"s"}
    assert done.after == 3 * MIB
    # The lease ended with its process: now s may go too.
    budget.enforce(tmp_path, 2 * MIB)
    assert left(paths) == set()


def test_an_entry_leased_by_this_process_is_never_evicted(tmp_path: Path) -> None:
    paths = fake_cache(tmp_path)
    budget.take(paths["a"])  # marks it used now, too: the most recently used
    budget.take(paths["s"])
    os.utime(paths["s"], (500, 500))  # and s stays the least recently used
    budget.enforce(tmp_path, 1 * MIB)
    assert left(paths) == {"a", "s"}
    budget.release_all()
    budget.enforce(tmp_path, 1 * MIB)
    assert left(paths) == set()


def test_an_entry_being_built_is_never_evicted(tmp_path: Path) -> None:
    paths = fake_cache(tmp_path)
    lock = budget.build_lock_path(paths["w"])
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        budget.enforce(tmp_path, 1 * MIB)
    assert left(paths) == {"w"}


def test_hard_linked_files_count_once_and_free_nothing(tmp_path: Path) -> None:
    # A workspace's source is hard-linked from trees/: removing the workspace frees only
    # what it has of its own.
    tree = tmp_path / "trees" / "linux"
    tree.mkdir(parents=True)
    (tree / "Makefile").write_bytes(b"m" * (3 * MIB))
    workspace = entry(tmp_path, "kbuild", "w", 1, used=100)
    os.link(tree / "Makefile", workspace / "Makefile")
    usage = budget.scan(tmp_path)
    assert usage.total == 4 * MIB
    assert [(e.path.name, e.size) for e in usage.entries] == [("w", 1 * MIB)]
    # Both links inside one entry: it frees the file.
    inner = entry(tmp_path, "images", "i", 0, used=100)
    (inner / "one").write_bytes(b"o" * MIB)
    os.link(inner / "one", inner / "two")
    assert budget.entry_of(inner).size == 1 * MIB


def test_temporaries_are_counted_but_never_evicted(tmp_path: Path) -> None:
    entry(tmp_path, "images", ".tmp-a-123-456", 2, used=1)
    usage = budget.scan(tmp_path)
    assert (usage.total, usage.entries) == (2 * MIB, ())


def test_the_cap_holds_through_a_mutants_run(tmp_path: Path) -> None:
    """A mutants run as the cache sees it: per mutant, the parent builds a kernel and an
    image set (``prebuild``: leases of the last mutant released, this one's taken, the cap
    kept after the store), then each worker restores or saves a snapshot (leased, the cap
    kept) and ends (its leases with it). The cache must never be over the cap once a store
    has kept it, whatever was in it before."""
    cap = 12 * MIB
    workspace = entry(tmp_path, "kbuild", "ws", 4, used=1)  # one, reused by every mutant
    clock = 1000
    sizes = []
    for mutant in range(6):
        budget.release_all()  # prebuild: this process now uses this mutant's kernel only
        for section, mib in (("kernels", 1), ("images", 3)):
            clock += 1
            path = entry(tmp_path, section, f"m{mutant}", mib, used=clock)
            budget.take(path)
            os.utime(path, (clock, clock))
        budget.take(workspace)
        os.utime(workspace, (clock, clock))
        budget.enforce(tmp_path, cap)
        sizes.append(budget.scan(tmp_path).total)
        for machine in ("max", "cortex-a57"):  # one worker each, one after the other
            clock += 1
            entry(tmp_path, "snapshots", f"m{mutant}-{machine}", 2, used=clock)
            budget.enforce(tmp_path, cap)
            sizes.append(budget.scan(tmp_path).total)
    # Without eviction it would reach 4 + 6 x (1 + 3 + 2 + 2) = 52 MiB.
    assert max(sizes) <= cap
    # What survives the last store: the workspace, the last mutant's kernel and set (in
    # use), and its snapshots (the most recent): 4 + 1 + 3 + 2 + 2 = 12 MiB.
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*")
                  if p.parent.name in budget.EVICTABLE) == [
        "images/m5", "kbuild/ws", "kernels/m5", "snapshots/m5-cortex-a57", "snapshots/m5-max"]


def test_prune_reports_what_it_frees_by_kind(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = fake_cache(tmp_path / "pmu-harness")
    assert main(["images", "prune", "--dry-run", "--max-size", "6M"]) == 0
    out = capsys.readouterr().out
    # First what is stale whatever the cap (no built kernel names workspace w), then the
    # least recently used until 11 - 4 = 7 MiB fits 6: s.
    assert "would remove kbuild/w (4 MiB, last used " in out
    assert "): no kept kernel was built in it\n" in out
    assert "would remove snapshots/s (2 MiB, last used " in out
    assert "would free: 1 snapshots (2 MiB), 1 workspaces (4 MiB); 6 MiB in all" in out
    assert "would be 5 MiB, cap 6 MiB" in out
    assert left(paths) == {"s", "a", "k", "w"}  # a dry run
    assert main(["images", "prune", "--max-size", "6M"]) == 0
    said = capsys.readouterr()
    assert "freed: 1 snapshots (2 MiB), 1 workspaces (4 MiB); 6 MiB in all" in said.out
    assert "cache: evicted kbuild/w (4 MiB, last used " in said.err  # logged as it goes
    assert "cache: evicted snapshots/s (2 MiB, last used " in said.err
    assert left(paths) == {"a", "k"}


def test_prune_refuses_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "prune", "--max-size", "big"]) == 2
    assert "--max-size: 'big' is not a size" in capsys.readouterr().err


def test_ccache_gets_its_share_of_the_cap(tmp_path: Path) -> None:
    conf = tmp_path / "ccache" / "ccache.conf"
    conf.parent.mkdir()
    conf.write_text("compression = true\nmax_size = 50G\n")
    budget.limit_ccache(tmp_path, 10 * 1024 ** 3)
    assert conf.read_text() == "compression = true\nmax_size = 2048Mi\n"


def test_saving_a_snapshot_keeps_the_cap(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    # The store point itself: SnapshotStore.save on the cache's own store (the QEMU side
    # answered by a fake monitor that writes a 2 MiB state file).
    from harness.machine.snapshot import SnapshotStore
    from tests.unit.test_machine_snapshot import INPUTS, FakeQmp

    class BigState(FakeQmp):
        def execute(self, command: str, timeout: float, **arguments: object) -> object:
            result = super().execute(command, timeout, **arguments)
            if command == "migrate":
                Path(str(arguments["uri"]).removeprefix("file:")).write_bytes(b"s" * 2 * MIB)
            return result

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(budget.CAP_VARIABLE, "5M")
    root = tmp_path / "pmu-harness"
    paths = fake_cache(root)  # 11 MiB
    in_use = paths["k"]
    budget.take(in_use)
    os.utime(in_use, (1, 1))  # the oldest of all, and leased
    snap = SnapshotStore().save(INPUTS, BigState(), {})
    # 13 MiB with the new 2 MiB snapshot: s (2) and a (3) go -> 8, w (4) -> 4; k is in use;
    # the new snapshot (leased by its saver) and apt stay: 1 + 2 + 1 = 4 MiB, and the
    # snapshot's meta.json (under a page).
    assert left(paths) == {"k"}
    assert snap.state.exists()
    assert 4 * MIB < budget.scan(root).total < 4 * MIB + 4096
