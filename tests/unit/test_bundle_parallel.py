"""Reproducer bundles, rerun's comparison, -j scheduling and retry accounting; nothing boots."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.bundle import BUNDLE_FILE, BundleSource, read_bundle, write_bundle
from harness.cli import main
from harness.commands.rerun import _compare
from harness.errors import EXIT_ABORT_BISECT, EXIT_INFRA, EXIT_USAGE, UsageError
from harness.images import ImageSet
from harness.machine.profile import MACHINES_DIR
from harness.parallel import (
    _overdue,
    _Running,
    _start_order,
    default_jobs,
    group_deadline_seconds,
)
from harness.paths import SCENARIOS_DIR
from harness.runner import Case, CaseResult, Group
from harness.scenario.discover import load_scenarios
from harness.session import RunOptions, _Attempts
from harness.verdict import Check, Outcome


def case(ident: str = "member-deny", mode: str = "probe") -> Case:
    (scenario,) = [s for s in load_scenarios([SCENARIOS_DIR]) if s.id == ident]
    return Case(scenario, "max", "debian-6.1", mode)


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


def failed(tmp_path: Path) -> tuple[CaseResult, BundleSource]:
    case_dir = tmp_path / "run" / "debian-6.1-max" / "member-deny-probe"
    case_dir.mkdir(parents=True)
    (case_dir / "filtered.filter").write_text("pmu-harness-filter 1\n")
    (case_dir / "filtered.l2-command.txt").write_text("/usr/local/bin/pmu-probe x\n")
    l1_dir = case_dir.parent / "l1"
    l1_dir.mkdir()
    (l1_dir / "command-1-cold.txt").write_text("qemu-system-aarch64 -cpu max\n")
    (l1_dir / "console-1-cold.log").write_text("boot\n" * 100)
    check = Check("counter CPU_CYCLES", "0", "12345", Outcome.FAIL, "oracle")
    result = CaseResult(case(), Outcome.FAIL, check.message(), (check,), case_dir, "6.1.1")
    source = BundleSource(images(tmp_path), MACHINES_DIR, "max", "vhe", None, None, l1_dir)
    return result, source


def test_bundle_holds_what_a_rerun_needs(tmp_path: Path) -> None:
    result, source = failed(tmp_path)
    bundle_dir = write_bundle(result, source, tmp_path / "bundles")
    data = json.loads((bundle_dir / BUNDLE_FILE).read_text())
    assert data["kernel"]["image_sha256"] == "a" * 64
    assert data["kernel"]["cache_key"] == "k" * 16
    assert data["commands"]["l1_qemu"] == {"command-1-cold.txt": "qemu-system-aarch64 -cpu max"}
    assert data["commands"]["l2"] == {"filtered.l2-command.txt": "/usr/local/bin/pmu-probe x"}
    assert data["rerun"] == f"pmu-harness rerun {bundle_dir}"
    assert (bundle_dir / "scenario.yaml").read_text() == result.case.scenario.path.read_text()
    assert (bundle_dir / "machines" / "max.yaml").is_file()
    assert (bundle_dir / "logs" / "case" / "filtered.filter").is_file()
    assert (bundle_dir / "logs" / "l1" / "console-1-cold.log").is_file()
    assert not list((tmp_path / "bundles").glob(".*"))  # no temporary left behind
    bundle = read_bundle(bundle_dir / BUNDLE_FILE)
    assert bundle.case["scenario"] == "member-deny"
    assert bundle.outcome == "fail" and bundle.failed_checks == ["counter CPU_CYCLES"]


def test_rerun_says_whether_it_reproduced(tmp_path: Path) -> None:
    result, source = failed(tmp_path)
    bundle = read_bundle(write_bundle(result, source, tmp_path / "bundles"))
    assert _compare(bundle, result).startswith("reproduced: fail again")
    passed = CaseResult(result.case, Outcome.PASS, "ok")
    assert _compare(bundle, passed) == "not reproduced: was fail, now pass"
    other = Check("pmceid", "x", "y", Outcome.FAIL, "oracle")
    assert "other checks" in _compare(bundle, CaseResult(result.case, Outcome.FAIL, "r",
                                                         (other,)))


def test_a_broken_bundle_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a bundle"):
        read_bundle(tmp_path)
    (tmp_path / BUNDLE_FILE).write_text('{"format": 1, "case": {}}')
    with pytest.raises(UsageError, match="case lacks name"):
        read_bundle(tmp_path)
    assert main(["rerun", str(tmp_path)]) == EXIT_USAGE


def test_missing_kernel_image_skips_a_bisect_step(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(SCENARIOS_DIR / "no-filter.yaml"), "--kernel", "local",
                 "--kernel-image", str(tmp_path / "Image")])
    assert code == EXIT_INFRA
    assert "did the kernel build fail" in capsys.readouterr().err


def test_jobs_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-j", "0"]) == EXIT_USAGE
    assert "at least 1" in capsys.readouterr().err
    assert default_jobs() >= 1


def test_bisect_aborts_on_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: Not-Valid\n")
    assert main(["run", str(bad)]) == EXIT_USAGE
    assert main(["run", "--bisect", str(bad)]) == EXIT_ABORT_BISECT
    assert main(["run", "--bisect", "--no-such-flag"]) == EXIT_ABORT_BISECT


def test_long_groups_start_first() -> None:
    probe = Group("cortex-a57", "debian-6.1", tuple(case(m) for m in ("no-filter",
                                                                     "member-deny")))
    linux = Group("max", "debian-6.1", (case("member-deny", "linux"),))
    assert [i for i, _ in _start_order([probe, linux])] == [1, 0]


def test_retries_are_counted_per_case() -> None:
    attempts = _Attempts(retries=1, errors={})
    first, second = case("no-filter"), case("member-deny")
    assert attempts.may_retry(first)
    attempts.record(first)
    assert not attempts.may_retry(first)
    assert attempts.may_retry(second)
    assert not _Attempts(retries=0, errors={}).may_retry(first)


def round_trip(value: object) -> object:
    return pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes, just made


def test_work_crosses_the_process_boundary() -> None:
    # -j N hands groups to spawned workers and gets results back by pickling them.
    group = Group("max", "debian-6.1", (case(),))
    assert round_trip(group) == group
    options = RunOptions(retries=3)
    assert round_trip(options) == options
    result = CaseResult(case(), Outcome.PASS, "ok", bundle=Path("/b"))
    assert round_trip(result) == result


def test_a_worker_past_its_deadline_is_stopped_and_its_cases_are_errors(
        tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    stuck = context.Process(target=time.sleep, args=(120,))
    stuck.start()
    group = Group("max", "debian-6.1", (case("no-filter"), case("member-deny")))
    worker = _Running(0, group, stuck, ours, deadline=time.monotonic() - 1)
    running = {ours: worker}
    results = _overdue(running, tmp_path)
    assert not running and not stuck.is_alive()
    assert [r.outcome for r in results[0]] == [Outcome.ERROR, Outcome.ERROR]
    assert "passed its deadline" in results[0][0].reason
    theirs.close()
    assert group_deadline_seconds(group) > 600


def test_a_bundle_that_cannot_be_written_leaves_nothing(tmp_path: Path) -> None:
    result, source = failed(tmp_path)
    broken = replace(source, machines_dir=tmp_path / "no-such-machines-dir")
    with pytest.raises(OSError):
        write_bundle(result, broken, tmp_path / "bundles")
    assert list((tmp_path / "bundles").iterdir()) == []
