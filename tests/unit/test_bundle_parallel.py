"""Reproducer bundles, rerun's comparison, -j scheduling and retry accounting; nothing boots."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

from harness.bundle import BUNDLE_FILE, BundleSource, describe, read_bundle, write_bundle
from harness.cli import main
from harness.commands.rerun import compare
from harness.errors import EXIT_ABORT_BISECT, EXIT_INFRA, EXIT_USAGE, UsageError
from harness.execute.capacity import default_jobs, mem_available
from harness.execute.group import RetryPolicy
from harness.execute.pool import PoolResult, group_deadline_seconds, run_groups
from harness.images import ImageSet
from harness.machine.profile import MACHINES_DIR
from harness.paths import SCENARIOS_DIR
from harness.plan import Case, Group, RunOptions
from harness.results import CaseResult, Check, ErrorClass, Outcome
from harness.scenario.discover import load_scenarios
from tests.unit.fakes import PROGRESS_FILE, record_progress


def case(ident: str = "member-deny", mode: str = "probe", machine: str = "max") -> Case:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return Case(scenario, machine, "debian-6.1", mode)


def images(tmp_path: Path) -> ImageSet:
    directory = tmp_path / "images"
    directory.mkdir()
    manifest = {"kernel_profile": "debian-6.1", "cache_key": "k" * 16,
                "kernel": {"package": "linux-image-6.1.0-1-arm64", "version": "6.1.1-1",
                           "release": "6.1.0-1-arm64"},
                "ssh_host_public_key": "ssh-ed25519 AAAA",
                "files": {"Image": {"sha256": "a" * 64},
                          "l1-initrd.cpio": {"sha256": "b" * 64}}}
    return ImageSet.from_manifest(directory, manifest)


def failed(tmp_path: Path) -> tuple[Case, CaseResult, BundleSource]:
    case_dir = tmp_path / "run" / "debian-6.1-max" / "member-deny-probe"
    case_dir.mkdir(parents=True)
    (case_dir / "filtered.filter").write_text("pmu-harness-filter 1\n")
    (case_dir / "filtered.l2-command.txt").write_text("/usr/local/bin/pmu-probe x\n")
    l1_dir = case_dir.parent / "l1"
    l1_dir.mkdir()
    (l1_dir / "command-1-cold.txt").write_text("qemu-system-aarch64 -cpu max\n")
    (l1_dir / "console-1-cold.log").write_text("boot\n" * 100)
    check = Check("counter CPU_CYCLES", "0", "12345", Outcome.FAIL, "oracle")
    failing = case()
    result = replace(failing.result(Outcome.FAIL, check.message()), checks=(check,),
                     artefacts=str(case_dir), kernel_version="6.1.1")
    source = BundleSource(images(tmp_path), MACHINES_DIR, "max", "vhe", None, None, l1_dir)
    return failing, result, source


def test_bundle_holds_what_a_rerun_needs(tmp_path: Path) -> None:
    failing, result, source = failed(tmp_path)
    bundle_dir = write_bundle(failing, result, source, tmp_path / "bundles")
    data = json.loads((bundle_dir / BUNDLE_FILE).read_text())
    assert data["kernel"]["image_sha256"] == "a" * 64
    assert data["kernel"]["cache_key"] == "k" * 16
    assert data["commands"]["l1_qemu"] == {"command-1-cold.txt": "qemu-system-aarch64 -cpu max"}
    assert data["commands"]["l2"] == {"filtered.l2-command.txt": "/usr/local/bin/pmu-probe x"}
    assert data["rerun"] == f"pmu-harness rerun {bundle_dir}"
    assert data["result"]["error_class"] == "kernel-failure"
    assert (bundle_dir / "scenario.yaml").read_text() == failing.scenario.path.read_text()
    assert (bundle_dir / "machines" / "max.yaml").is_file()
    assert (bundle_dir / "logs" / "case" / "filtered.filter").is_file()
    assert (bundle_dir / "logs" / "l1" / "console-1-cold.log").is_file()
    assert not list((tmp_path / "bundles").glob(".*"))  # no temporary left behind
    bundle = read_bundle(bundle_dir / BUNDLE_FILE)
    assert bundle.case["scenario"] == "member-deny"
    assert bundle.outcome == "fail" and bundle.failed_checks == ["counter CPU_CYCLES"]


def test_describe_names_the_case_it_is_given(tmp_path: Path) -> None:
    failing, result, source = failed(tmp_path)
    data = describe(failing, result, source)
    assert data["case"] == {"name": "member-deny[max,debian-6.1,probe]",
                            "scenario": "member-deny", "machine": "max",
                            "kernel": "debian-6.1", "mode": "probe"}
    assert data["result"] == result.to_json()
    assert data["options"] == {"kvm_mode": "vhe"}


def test_rerun_says_whether_it_reproduced(tmp_path: Path) -> None:
    failing, result, source = failed(tmp_path)
    bundle = read_bundle(write_bundle(failing, result, source, tmp_path / "bundles"))
    assert compare(bundle, result).startswith("reproduced: fail again")
    passed = failing.result(Outcome.PASS, "ok")
    assert compare(bundle, passed) == "not reproduced: was fail, now pass"
    other = Check("pmceid", "x", "y", Outcome.FAIL, "oracle")
    assert "other checks" in compare(bundle, replace(failing.result(Outcome.FAIL, "r"),
                                                     checks=(other,)))


def test_a_broken_bundle_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a bundle"):
        read_bundle(tmp_path)
    (tmp_path / BUNDLE_FILE).write_text('{"format": 1, "case": {}}')
    with pytest.raises(UsageError, match="case lacks name"):
        read_bundle(tmp_path)
    assert main(["rerun", str(tmp_path)]) == EXIT_USAGE


def test_rerun_writes_the_reports_run_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # `rerun` gained --junit/--html/--ktap/--skips: the same writer as `run` and `report`.
    failing, result, source = failed(tmp_path)
    bundle_dir = write_bundle(failing, result, source, tmp_path / "bundles")
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path / "results"))
    # The bundle's images, found in the cache by key (nothing is built or booted).
    monkeypatch.setattr("harness.images.list_image_sets", lambda: [source.images])
    monkeypatch.setattr("harness.images.verify_image_set", lambda images: [])
    ran: list[tuple[Group, RunOptions]] = []

    def run_groups(groups: list[Group], run_dir: Path, options: RunOptions, jobs: int,
                   progress: object) -> PoolResult:
        ran.extend((g, options) for g in groups)
        return PoolResult([replace(c.result(Outcome.FAIL, "again"), checks=result.checks)
                           for g in groups for c in g.cases])

    monkeypatch.setattr("harness.execute.pool.run_groups", run_groups)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["rerun", str(bundle_dir), "--junit", str(out / "junit.xml"), "--html",
                 str(out / "r.html"), "--json", str(out / "r.json"), "--ktap", "--skips"])
    assert code == 1
    [(group, options)] = ran
    assert [c.name for c in group.cases] == ["member-deny[max,debian-6.1,probe]"]
    assert options.image_set == source.images and options.kvm_mode == "vhe"
    captured = capsys.readouterr()
    assert captured.out.startswith("KTAP version 1\n1..1\nnot ok 1 member-deny[")
    assert "reproduced: fail again (counter CPU_CYCLES)" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "r.html", "r.json"]
    assert json.loads((out / "r.json").read_text())["results"][0]["result"] == "fail"


def test_missing_kernel_image_skips_a_bisect_step(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SCENARIOS_DIR / "no-filter.yaml"), "--kernel", "local",
                 "--kernel-image", str(tmp_path / "Image")])
    assert code == EXIT_INFRA
    assert "did the kernel build fail" in capsys.readouterr().err


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-j", "0"]) == EXIT_USAGE
    assert "at least 1" in capsys.readouterr().err


GIB = 1 << 30


@pytest.mark.parametrize(("cores", "available", "page", "jobs"), [
    (8, 64 * GIB, 4096, 8),     # cores are the bound
    (8, 10 * GIB, 4096, 2),     # memory is: 4 GiB per L1
    (16, 12 * GIB, 4096, 3),
    (8, 10 * GIB, 65536, 2),    # 64 KiB pages: bytes, not pages, count
    (2, 3 * GIB, 4096, 1),      # less than one L1's worth still runs one
    (1, 100 * GIB, 4096, 1),
    (8, None, 4096, 1),         # free memory unknown (no SC_AVPHYS_PAGES): one at a time
], ids=["cores", "memory", "memory-16-cores", "64k-pages", "little-memory", "one-core",
        "memory-unknown"])
def test_without_meminfo_default_jobs_follows_cores_and_free_memory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cores: int, available: int | None,
        page: int, jobs: int) -> None:
    real_sysconf = os.sysconf

    def sysconf(name: str | int) -> int:
        if name == "SC_AVPHYS_PAGES":
            if available is None:
                raise ValueError("unrecognized configuration name")
            return available // page
        if name == "SC_PAGE_SIZE":
            return page
        return real_sysconf(name)

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "sysconf", sysconf)
    assert default_jobs(tmp_path / "no-meminfo") == jobs


MEMINFO = Path(__file__).parent.parent / "data" / "meminfo"


def test_page_cache_counts_as_memory_an_l1_can_have(monkeypatch: pytest.MonkeyPatch) -> None:
    # The build machine after reading the nightly's snapshots: 24 GiB, 7.2 GiB free, 14 GiB
    # page cache. Free memory alone allowed one L1 (the nightly took 9.1 min with -j 1);
    # MemAvailable allows two.
    text = (MEMINFO / "busy-cache.txt").read_text()
    assert mem_available(text) == 24_045_732 * 1024
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "sysconf", lambda name: 1)  # never asked: MemAvailable is there
    assert default_jobs(MEMINFO / "busy-cache.txt") == 2


@pytest.mark.parametrize("text", ["", "MemTotal:       24684076 kB\nMemFree: 1 kB\n",
                                  "MemAvailable:   lots kB\n", "XMemAvailable: 5 kB\n"])
def test_meminfo_without_a_usable_mem_available_line_says_none(text: str) -> None:
    assert mem_available(text) is None


def test_bisect_aborts_on_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: Not-Valid\n")
    assert main(["run", str(bad)]) == EXIT_USAGE
    assert main(["run", "--bisect", str(bad)]) == EXIT_ABORT_BISECT
    assert main(["run", "--bisect", "--no-such-flag"]) == EXIT_ABORT_BISECT


def test_long_groups_start_first_and_results_keep_the_groups_order(tmp_path: Path) -> None:
    # Real workers, one at a time (-j 1): each group fails fast (no machine profiles in
    # `machines_dir`: configuration errors) and its worker reports in progress.txt.
    probe = Group("cortex-a57", "debian-6.1", (case("no-filter", "probe", "cortex-a57"),
                                               case("member-deny", "probe", "cortex-a57")))
    linux = Group("max", "debian-6.1", (case("member-deny", "linux"),))
    (tmp_path / "machines").mkdir()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = run_groups([probe, linux], run_dir,
                         RunOptions(machines_dir=tmp_path / "machines"), 1,
                         record_progress).results
    reported = (run_dir / PROGRESS_FILE).read_text().splitlines()
    # One linux case (about 20 s) outweighs two probe cases (about 2 s each).
    assert [line.split()[0] for line in reported] == ["debian-6.1/max", "debian-6.1/cortex-a57",
                                                      "debian-6.1/cortex-a57"]
    assert [r.name for r in results] == ["no-filter[cortex-a57,debian-6.1,probe]",
                                         "member-deny[cortex-a57,debian-6.1,probe]",
                                         "member-deny[max,debian-6.1,linux]"]
    assert {r.error_class for r in results} == {ErrorClass.SCENARIO_ERROR}


def test_retries_are_counted_per_case() -> None:
    policy = RetryPolicy(retries=1)
    first, second = case("no-filter"), case("member-deny")
    assert policy.may_retry(first)
    policy.record(first)
    assert not policy.may_retry(first)
    assert policy.may_retry(second)
    assert not RetryPolicy(retries=0).may_retry(first)
    several = RetryPolicy(retries=2)
    several.record(first)
    assert several.may_retry(first)
    several.record(first)
    assert not several.may_retry(first)


def round_trip(value: object) -> object:
    # multiprocessing's own pickler: the one spawn and the workers' pipes carry values with.
    return ForkingPickler.loads(ForkingPickler.dumps(value))


def test_work_crosses_the_process_boundary(tmp_path: Path) -> None:
    # -j N hands groups to spawned workers and gets results back by pickling them.
    group = Group("max", "debian-6.1", (case(),))
    assert round_trip(group) == group
    options = RunOptions(retries=3, image_set=images(tmp_path))
    assert round_trip(options) == options
    result = replace(case().result(Outcome.ERROR, "x"), bundle="/b",
                     error_class=ErrorClass.TIMEOUT)
    assert round_trip(result) == result


def group_of(count: int, mode: str) -> Group:
    return Group("max", "debian-6.1", (case("member-deny", mode),) * count)


def test_group_deadlines_follow_the_cases_and_their_modes() -> None:
    probe = [group_deadline_seconds(group_of(n, "probe")) for n in (1, 2, 10)]
    linux = [group_deadline_seconds(group_of(n, "linux")) for n in (1, 2, 10)]
    # More cases, more time; a linux case (an L2 Linux boot, perf) more than a probe case.
    assert probe[0] < probe[1] < probe[2] and linux[0] < linux[1] < linux[2]
    assert all(lx > pr for lx, pr in zip(linux, probe, strict=True))
    # Generous: a probe case took 1-7 s, a linux case 15-40 s (bench/run_results.md, both
    # cores shared); each case gets at least ten times that. Still finite: a group of one
    # case is given up on within the hour.
    assert (probe[1] - probe[0]) >= 70 and (linux[1] - linux[0]) >= 400
    assert (probe[2] - probe[1]) == 8 * (probe[1] - probe[0])
    assert probe[0] < linux[0] <= 3600
    # Besides its cases, a group needs its L1 (boots, retries, an image check): a one-case
    # group gets more than its case alone.
    assert probe[0] - (probe[1] - probe[0]) >= 300
    # Each case adds its own mode's share.
    mixed = Group("max", "debian-6.1", (case("member-deny", "probe"),
                                        case("member-deny", "linux")))
    assert group_deadline_seconds(mixed) == linux[0] + (probe[1] - probe[0])
