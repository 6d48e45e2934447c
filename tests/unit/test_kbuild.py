"""Series loading and applying, the build workspace's file sync, and the Kconfig check, on a
tiny fake tree (no compiler needed). The system tests build real kernels."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.kbuild import kconfig
from harness.kbuild.build import keep_modules
from harness.kbuild.series import apply_series, load_series, split_mbox
from harness.kbuild.tree import TreeSpec, open_tree
from harness.kbuild.workspace import Workspace
from harness.kernelrules import KernelVersion

PMU_C = "".join(f"line {n}\n" for n in range(1, 41))


def patch_text(subject: str, old: str, new: str, path: str = "arch/arm64/kvm/pmu.c",
               at: int = 10) -> str:
    """A one-line change at line ``at`` with three lines of context, as git writes it."""
    before = [f"line {n}" for n in range(at - 3, at)]
    after = [f"line {n}" for n in range(at + 1, at + 4)]
    body = "".join(f" {x}\n" for x in before) + f"-{old}\n+{new}\n" + "".join(
        f" {x}\n" for x in after)
    return (f"From 0000 Mon Sep 17 00:00:00 2001\nFrom: dev <dev@example.org>\n"
            f"Subject: [PATCH] {subject}\n\nWhy.\n---\n"
            f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -{at - 3},7 +{at - 3},7 @@\n{body}-- \n2.39.0\n\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "pristine"
    (root / "arch/arm64/kvm").mkdir(parents=True)
    (root / "arch/arm64/kvm/pmu.c").write_text(PMU_C)
    (root / "Makefile").write_text("VERSION = 5\nPATCHLEVEL = 10\nSUBLEVEL = 223\n")
    return root


def series_dir(tmp_path: Path, name: str, *patches: str) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    for number, text in enumerate(patches, 1):
        (directory / f"{number:04d}-change.patch").write_text(text)
    return directory


def test_directory_series_in_file_order_with_hashes(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "two", patch_text("a", "line 10", "ten"),
                   patch_text("b", "line 20", "twenty", at=20))
    series = load_series(d)
    assert [p.label.rsplit("/", 1)[-1] for p in series.patches] == [
        "0001-change.patch", "0002-change.patch"]
    assert series.touched() == ["arch/arm64/kvm/pmu.c"]
    assert len({p.sha256 for p in series.patches}) == 2


def test_series_yaml_order_and_missing_patch(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "listed", patch_text("a", "line 10", "ten"))
    (d / "series.yaml").write_text("patches: [0002-missing.patch]\n")
    with pytest.raises(UsageError, match=r"0002-missing\.patch"):
        load_series(d)


def test_mbox_skips_the_cover_letter() -> None:
    cover = ("From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 0/2] cover\n\n"
             "No diff here.\n\n")
    mbox = (cover + patch_text("first", "line 10", "ten")
            + patch_text("second", "line 20", "x", at=20)).encode()
    patches = split_mbox(mbox, "my.mbx")
    assert [p.label for p in patches] == ["my.mbx [1/2] [PATCH] first",
                                          "my.mbx [2/2] [PATCH] second"]


def test_a_directory_skips_git_format_patch_s_cover_letter(tmp_path: Path) -> None:
    d = series_dir(tmp_path, "fp", patch_text("a", "line 10", "ten"))
    (d / "0000-cover-letter.patch").write_text(
        "From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 0/1] *** SUBJECT HERE ***\n\n"
        "*** BLURB HERE ***\n")
    assert [p.label.rsplit("/", 1)[-1] for p in load_series(d).patches] == [
        "0001-change.patch"]
    only_cover = tmp_path / "cover-only"
    only_cover.mkdir()
    (only_cover / "0000-cover-letter.patch").write_text("Subject: [PATCH 0/0] x\n\nno diff\n")
    with pytest.raises(UsageError, match=r"none of its .* files holds a diff"):
        load_series(only_cover)


def test_apply_into_staging_leaves_pristine(tree: Path, tmp_path: Path) -> None:
    d = series_dir(tmp_path, "s", patch_text("a", "line 10", "ten"))
    staging = tmp_path / "staging"
    staging.mkdir()
    assert apply_series([load_series(d)], tree, staging) == ["arch/arm64/kvm/pmu.c"]
    assert "ten\n" in (staging / "arch/arm64/kvm/pmu.c").read_text()
    assert (tree / "arch/arm64/kvm/pmu.c").read_text() == PMU_C


def test_a_hunk_that_does_not_apply_names_patch_file_and_hunk(tree: Path,
                                                             tmp_path: Path) -> None:
    d = series_dir(tmp_path, "broken", patch_text("a", "line 10 was different", "ten"))
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(UsageError) as caught:
        apply_series([load_series(d)], tree, staging)
    message = str(caught.value)
    assert "broken/0001-change.patch" in message
    assert "arch/arm64/kvm/pmu.c: hunk #1 FAILED at line 7: @@ -7,7 +7,7 @@" in message


def workspace(tree: Path, tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "ws", tree)
    ws.prepare()
    return ws


def staged(tree: Path, tmp_path: Path, *patches: str) -> tuple[Path, list[str]]:
    staging = tmp_path / f"staging-{len(list(tmp_path.iterdir()))}"
    staging.mkdir()
    series = [load_series(series_dir(tmp_path, f"s{len(list(tmp_path.iterdir()))}", *patches))]
    return staging, apply_series(series, tree, staging)


def test_sync_changes_only_what_differs_and_restores_pristine(tree: Path,
                                                              tmp_path: Path) -> None:
    ws = workspace(tree, tmp_path)
    target = ws.src / "arch/arm64/kvm/pmu.c"
    assert ws.sync(*staged(tree, tmp_path, patch_text("a", "line 10", "ten"))) == [
        "arch/arm64/kvm/pmu.c"]
    assert "ten\n" in target.read_text()
    assert (tree / "arch/arm64/kvm/pmu.c").read_text() == PMU_C  # the link was replaced
    os.utime(target, ns=(1, 1))
    # The same series again: nothing changes, so make has nothing to rebuild.
    assert ws.sync(*staged(tree, tmp_path, patch_text("a", "line 10", "ten"))) == []
    assert target.stat().st_mtime_ns == 1
    # No series: the file goes back to pristine.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ws.sync(empty, []) == ["arch/arm64/kvm/pmu.c"]
    assert target.read_text() == PMU_C


def test_fragment_errors_are_located(tmp_path: Path) -> None:
    fragment = tmp_path / "bad.config"
    fragment.write_text("# comment\nCONFIG_KVM=y\nKVM=y\n")
    with pytest.raises(UsageError) as caught:
        kconfig.load_fragment(fragment)
    assert f"{fragment}:3: expected CONFIG_NAME=value" in str(caught.value)


def test_a_dropped_symbol_is_named_with_its_line(tmp_path: Path) -> None:
    fragment = tmp_path / "want.config"
    fragment.write_text("CONFIG_KVM=y\n# CONFIG_MODULES is not set\nCONFIG_HZ=100\n")
    wanted = kconfig.merged([kconfig.load_fragment(fragment)])
    final = "CONFIG_HZ=100\n# CONFIG_KVM is not set\n"
    problems = kconfig.unmet(wanted, final)
    assert [str(p) for p in problems] == [
        f"{fragment}:1: CONFIG_KVM=y was dropped by Kconfig (the .config has CONFIG_KVM not "
        "set): a dependency is missing, or this tree has no such symbol (a '# when:' line "
        "above it says which versions a symbol is for)"]


def test_when_lines_limit_symbols_to_tree_versions(tmp_path: Path) -> None:
    fragment = tmp_path / "want.config"
    fragment.write_text("CONFIG_KVM=y\n\n# gone in 5.12\n# when: < 5.12\nCONFIG_ARM64_VHE=y\n"
                        "# CONFIG_X is not set\n\n# when: >= 6.4\nCONFIG_ARM_PMUV3=y\n\n"
                        "# when: >= 5.12, < 6.4\nCONFIG_MIDDLE=y\n\nCONFIG_HZ_100=y\n")
    loaded = [kconfig.load_fragment(fragment)]

    def symbols(version: str) -> list[str]:
        return sorted(kconfig.merged(loaded, KernelVersion.parse(version)))

    every = ["CONFIG_HZ_100", "CONFIG_KVM"]
    assert symbols("5.10.223") == sorted([*every, "CONFIG_ARM64_VHE", "CONFIG_X"])
    assert symbols("5.12") == sorted([*every, "CONFIG_MIDDLE"])
    assert symbols("6.1.192") == sorted([*every, "CONFIG_MIDDLE"])
    assert symbols("6.4") == sorted([*every, "CONFIG_ARM_PMUV3"])
    assert symbols("6.12.118-1") == sorted([*every, "CONFIG_ARM_PMUV3"])


def test_a_bad_when_line_is_located(tmp_path: Path) -> None:
    fragment = tmp_path / "bad.config"
    fragment.write_text("# when: > 6.4\nCONFIG_KVM=y\n\n# when: >= six\n")
    with pytest.raises(UsageError) as caught:
        kconfig.load_fragment(fragment)
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        f"{fragment}:1: when: expected '>= X.Y' and/or '< X.Y' (comma-separated), not '> 6.4'",
        f"{fragment}:4: when: expected '>= X.Y' and/or '< X.Y' (comma-separated), not "
        "'>= six'"]


def test_the_shipped_fragment_fits_each_tree_version() -> None:
    # What the real builds of 5.10.223, 6.1.192 and 6.12.118 showed Kconfig keeps or drops.
    fragment = [kconfig.load_fragment(kconfig.fragment_path("kvm-host"))]
    versioned = {"CONFIG_ARM64_VHE", "CONFIG_KVM_ARM_PMU", "CONFIG_ARM_PMUV3"}
    for version, present in (("5.10.223", {"CONFIG_ARM64_VHE", "CONFIG_KVM_ARM_PMU"}),
                             ("6.1.192", set()), ("6.12.118", {"CONFIG_ARM_PMUV3"})):
        wanted = set(kconfig.merged(fragment, KernelVersion.parse(version)))
        assert wanted & versioned == present, version
        assert "CONFIG_KVM" in wanted


def test_unknown_fragment_and_option_names() -> None:
    with pytest.raises(UsageError, match=r"unknown Kconfig fragment 'nope'.*kvm-host"):
        kconfig.fragment_path("nope")
    with pytest.raises(UsageError, match=r"unknown build option '\.\./kvm-host'"):
        kconfig.fragment_path("../kvm-host", option=True)
    assert kconfig.fragment_path("debug", option=True).name == "debug.config"


def test_a_user_tree_is_identified_by_its_content(tree: Path) -> None:
    (tree / "arch/arm64/Kconfig").write_text("# arm64\n")
    git = ["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "-A"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-qm", "x"], check=True, timeout=30)
    first = open_tree(TreeSpec(directory=tree), progress=False)
    assert first.version == "5.10.223" and first.identity["content"].startswith("git:")
    assert open_tree(TreeSpec(directory=tree), progress=False).identity == first.identity
    (tree / "arch/arm64/kvm/pmu.c").write_text(PMU_C + "edited\n")
    assert open_tree(TreeSpec(directory=tree), progress=False).identity != first.identity


def test_a_directory_that_is_not_a_kernel_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an arm64-capable kernel tree"):
        open_tree(TreeSpec(directory=tmp_path), progress=False)


def test_a_build_keeps_the_modules_it_was_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "drivers/perf").mkdir(parents=True)
    (out / "drivers/perf/arm_pmuv3.ko").write_bytes(b"\x7fELF pmu")
    kept = keep_modules(out, ("drivers/perf/arm_pmuv3.ko",), tmp_path / "result/modules")
    assert kept == ["arm_pmuv3.ko"]
    assert (tmp_path / "result/modules/arm_pmuv3.ko").read_bytes() == b"\x7fELF pmu"
    # A symbol the fragment left built in (or out) makes no .ko: said, not skipped.
    with pytest.raises(UsageError, match=r"no drivers/perf/other\.ko: is it =m"):
        keep_modules(out, ("drivers/perf/other.ko",), tmp_path / "result/modules")
