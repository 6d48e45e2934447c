"""Kernels built from source, end to end: Debian's linux-source-5.10 + kernel-patches/,
cross-compiled here (facts.md §5), booted as L1.

The first build on a machine takes minutes (CI's `.ci/run` warms ccache first); every test
after it is an incremental build or a cache hit. What is checked: a cache hit runs no make;
one edited patch rebuilds only what depends on it; a series that does not apply exits 2
naming patch and hunk; a compile error exits 125 with the log's tail and path; a fragment
symbol Kconfig drops is named; a failed case on a source kernel leaves a bundle that
``rerun`` reproduces after rebuilding the kernel from the bundle's copies; the revision
matrix shows base's missing FILTER against the final API; a kernel built here is saved and
restored on VHE ``max`` (its timers re-armed by CPU hotplug).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UsageError
from harness.images import build_image_set
from harness.images.build import SECTION
from harness.images.kinds import load_profile
from harness.kbuild import kconfig
from harness.kbuild.build import RESULTS, BuildSpec, build_kernel, read_inputs, result_dir
from harness.kbuild.tree import TreeSpec
from harness.machine import BootMode, L1Machine, load_machine_profile
from harness.machine.snapshot import SnapshotStore
from harness.paths import PROJECT_ROOT
from harness.store import budget, cache
from tests.system.l1_probe import probe_runs
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
PROFILE = "filter-v3"
PLANTED = Path(__file__).parent.parent / "data" / "scenarios"
SCENARIOS = PROJECT_ROOT / "testcases" / "scenarios"
TIMEOUT = 3600
PMU_EMUL = "arch/arm64/kvm/pmu-emul.c"
HEADER = ["// SPDX-License-Identifier: GPL-2.0-only", "/*",
          " * Copyright (C) 2015 Linaro Ltd."]
COMPILED = re.compile(r"^\s+CC\s", re.MULTILINE)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "PMU_HARNESS_RESULTS": str(tmp_path / "results")})
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return proc


def one_line_series(tmp_path: Path, name: str, added: str) -> Path:
    """A series of one patch that adds a line after pmu-emul.c's first line."""
    directory = tmp_path / name
    directory.mkdir()
    context = "".join(f" {line}\n" for line in HEADER[1:])
    (directory / "0001-planted.patch").write_text(
        f"From: test <test@localhost>\nSubject: [PATCH] {name}\n\n---\n"
        f"diff --git a/{PMU_EMUL} b/{PMU_EMUL}\n--- a/{PMU_EMUL}\n+++ b/{PMU_EMUL}\n"
        f"@@ -1,3 +1,4 @@\n {HEADER[0]}\n+{added}\n{context}")
    return directory


def build_key(output: str) -> str:
    """The build key `images build` printed on its "built from:" line."""
    match = re.search(r"built from: .*; key ([0-9a-f]{16})$", output, re.MULTILINE)
    assert match, output
    return match[1]


def kernel_dir(output: str) -> Path:
    """The built kernel's cache entry, named by the key `images build` printed."""
    return cache.section_dir(RESULTS) / f"{PROFILE}-{build_key(output)}"


def kernel_manifest(output: str) -> dict[str, Any]:
    """The manifest of the kernel `images build` just built (its entry is still there: the
    cap evicts only entries no command uses, and none has run since)."""
    manifest = json.loads((kernel_dir(output) / "manifest.json").read_text())
    assert isinstance(manifest, dict)
    return manifest


def build_log(output: str) -> Path:
    """The build log `images build` printed."""
    match = re.search(r"build log: (\S+)$", output, re.MULTILINE)
    assert match, output
    return Path(match[1])


@pytest.fixture(scope="module")
def v3_build(tmp_path_factory: pytest.TempPathFactory) -> str:
    proc = cli(tmp_path_factory.mktemp("v3"), "images", "build", "--kernel", PROFILE)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_an_unchanged_profile_is_a_cache_hit(v3_build: str, tmp_path: Path) -> None:
    again = cli(tmp_path, "images", "build", "--kernel", PROFILE)
    assert again.returncode == 0
    assert "make Image" not in again.stderr
    assert build_key(v3_build) == build_key(again.stdout)


def test_an_image_set_keeps_its_build_log_when_the_built_kernel_is_evicted(
        v3_build: str, tmp_path: Path) -> None:
    # CI's 10 GiB cap evicts built kernels whose image sets stay: a cache hit then printed
    # (and a review read) a log that was gone.
    built = kernel_dir(v3_build)
    if built.exists():
        assert budget.evict(budget.entry_of(built), "a test stands in for the cap")
    again = cli(tmp_path, "images", "build", "--kernel", PROFILE)
    assert again.returncode == 0
    assert "make Image" not in again.stderr
    assert not built.exists()
    log = build_log(again.stdout)
    assert log.is_file()
    assert "Image" in log.read_text()


def test_one_edited_patch_rebuilds_incrementally(v3_build: str, tmp_path: Path) -> None:
    manifests = []
    for number, comment in enumerate(("/* planted comment one */", "/* planted two */")):
        series = one_line_series(tmp_path, f"edit{number}", comment)
        proc = cli(tmp_path, "images", "build", "--kernel", PROFILE, "--series", str(series))
        assert proc.returncode == 0, proc.stderr
        manifests.append(kernel_manifest(proc.stdout))
    # The first build brings the shared workspace to v3 + edit (from whichever revision
    # was built there last); the second differs from it by one edited patch.
    second = manifests[1]
    assert second["build_key"] != manifests[0]["build_key"]
    assert second["changed_files"] == [PMU_EMUL]
    log = Path(second["workspace"], "logs", f"{second['build_key'][:16]}.log")
    compiled = COMPILED.findall(log.read_text())
    # pmu-emul.o, plus the banner's version.o at most: not the kernel.
    assert 1 <= len(compiled) <= 3, compiled


def test_a_series_that_does_not_apply_names_patch_and_hunk(tmp_path: Path) -> None:
    series = tmp_path / "broken"
    series.mkdir()
    (series / "0001-stale.patch").write_text(
        f"Subject: [PATCH] stale\n\n---\n--- a/{PMU_EMUL}\n+++ b/{PMU_EMUL}\n"
        "@@ -1,3 +1,4 @@\n // a first line this file never had\n+/* new */\n /*\n"
        " * Copyright (C) 2015 Linaro Ltd.\n")
    proc = cli(tmp_path, "images", "build", "--kernel", PROFILE, "--series", str(series))
    assert proc.returncode == 2, proc.stderr
    assert f"{series}/0001-stale.patch" in proc.stderr
    assert f"{PMU_EMUL}: hunk #1 FAILED at line 1: @@ -1,3 +1,4 @@" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_compile_error_is_an_infrastructure_error_with_the_log(v3_build: str,
                                                                 tmp_path: Path) -> None:
    series = one_line_series(tmp_path, "error", "#error planted by the harness's tests")
    proc = cli(tmp_path, "images", "build", "--kernel", PROFILE, "--series", str(series))
    assert proc.returncode == 125, proc.stderr
    assert "make Image failed" in proc.stderr
    assert "#error planted by the harness's tests" in proc.stderr  # the log's tail
    log = re.search(r"full logs: (\S+)", proc.stderr)
    assert log and Path(log[1]).is_file()
    # Nothing half-built was cached, and the profile itself is still a cache hit.
    again = cli(tmp_path, "images", "build", "--kernel", PROFILE)
    assert again.returncode == 0 and "make Image" not in again.stderr


def test_a_symbol_kconfig_drops_is_named(tmp_path: Path) -> None:
    fragment = tmp_path / "pmuv3.config"
    # CONFIG_ARM_PMUV3 only exists from 6.4 on (facts.md §5): 5.10 drops it silently.
    fragment.write_text("CONFIG_ARM_PMUV3=y\n")
    source = load_profile(PROFILE).source
    assert source is not None
    spec = BuildSpec("dropped-symbol-test", TreeSpec(source.package, source.version, source.apt),
                     fragments=(kconfig.fragment_path("kvm-host"), fragment))
    inputs = read_inputs(spec, progress=False)
    workspace = result_dir(inputs).parent.parent / "kbuild" / inputs.config_key()[:16]
    try:
        with pytest.raises(UsageError) as caught:
            build_kernel(inputs, progress=False)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    assert f"{fragment}:1: CONFIG_ARM_PMUV3=y was dropped by Kconfig" in str(caught.value)


def test_a_failed_case_on_a_source_kernel_reruns_from_its_bundle(v3_build: str,
                                                                 tmp_path: Path) -> None:
    proc = cli(tmp_path, "run", str(PLANTED / "wrong-expectation.yaml"), "--kernel", PROFILE,
               "--machine", "max", "--json", str(tmp_path / "out.json"))
    assert proc.returncode == 1, proc.stderr
    result = json.loads((tmp_path / "out.json").read_text())["results"][0]
    bundle = Path(result["bundle"])
    recorded = json.loads((bundle / "bundle.json").read_text())["kernel"]
    assert recorded["revision"] == "v3"
    assert [s["name"] for s in recorded["build"]["series"]] == ["base", "pmu-filter-v3"]
    assert (bundle / "kernel/series/pmu-filter-v3/series.yaml").is_file()
    # Make rerun rebuild: drop the image set and the built kernel (the workspace stays, so
    # the rebuild is a no-op make; the Image must come out bit for bit the same).
    built = cache.section_dir(RESULTS) / f"{PROFILE}-{recorded['build']['build_key'][:16]}"
    shutil.rmtree(built, ignore_errors=True)  # the cap may have evicted it already
    image_sets = [p for p in cache.section_dir(SECTION).iterdir()
                  if p.name.startswith(f"{PROFILE}-")]
    for image_set in image_sets:
        shutil.rmtree(image_set)
    rerun = cli(tmp_path, "rerun", str(bundle))
    assert rerun.returncode == 1, rerun.stderr
    assert "rebuilding filter-v3 from the bundle's series" in rerun.stderr
    assert "reproduced: fail again (counter CPU_CYCLES)" in rerun.stderr
    assert qemu_pids_mentioning(str(tmp_path)) == []


def test_the_revision_matrix_shows_base_against_the_final_api(v3_build: str,
                                                              tmp_path: Path) -> None:
    proc = cli(tmp_path, "run", str(SCENARIOS / "cycle-counter-deny.yaml"), "--kernel",
               "filter-base", "--kernel", PROFILE, "--machine", "max",
               "--json", str(tmp_path / "out.json"))
    assert proc.returncode == 0, proc.stderr
    results = {r["kernel"]: r for r in json.loads((tmp_path / "out.json").read_text())["results"]}
    base, v3 = results["filter-base"], results[PROFILE]
    assert base["result"] == "pass" and base["kernel_revision"] == "base"
    assert base["final_api"]["result"] == "fail"
    assert "ENXIO" in base["final_api"]["reason"]
    assert v3["result"] == "pass" and "final_api" not in v3
    assert "revisions (each against its own prediction" in proc.stdout
    assert re.search(r"cycle-counter-deny\s+max\s+probe\s+PASS, differs from v3\s+PASS",
                     proc.stdout), proc.stdout


def test_a_kernel_built_here_is_saved_and_restored_on_vhe(v3_build: str, tmp_path: Path
                                                          ) -> None:
    # The re-arm of a restored VHE L1's timers hotplugs CPU 1: a kernel built without
    # CONFIG_HOTPLUG_CPU was never saved and booted cold every time (kvm-host.config).
    images = build_image_set(PROFILE, progress=False)
    store = SnapshotStore(tmp_path / "snapshots")
    profile = load_machine_profile("max")
    with L1Machine(images, profile, tmp_path / "cold", store=store) as l1:
        assert l1.boot_mode is BootMode.COLD
    with L1Machine(images, profile, tmp_path / "restored", store=store) as l1:
        assert l1.boot_mode is BootMode.RESTORED and l1.timers_rearmed
        probe_runs(l1)
    assert qemu_pids_mentioning(str(tmp_path)) == []
