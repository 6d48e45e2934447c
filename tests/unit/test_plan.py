"""The planner: every name, profile and KVM mode is checked before anything starts, so a
bad one is a usage error in the parent (exit 2), never an error inside a ``-j`` worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.catalog import MACHINES
from harness.cli import main
from harness.errors import EXIT_USAGE, UsageError
from harness.images.profiles import SourceOverrides
from harness.paths import SCENARIOS_DIR
from harness.plan import Request, RunOptions, make_plan

ONE = str(SCENARIOS_DIR / "no-filter.yaml")


def machines_with(tmp_path: Path, name: str, text: str) -> Path:
    """A copy of the shipped machine profiles plus one of the test's."""
    directory = tmp_path / "machines"
    shutil.copytree(MACHINES.directory, directory)
    (directory / f"{name}.yaml").write_text(text)
    return directory


def test_a_broken_machine_profile_is_refused_by_the_plan(tmp_path: Path) -> None:
    broken = (MACHINES.directory / "max.yaml").read_text().replace("smp: 2", "smp: lots")
    options = RunOptions(machines_dir=machines_with(tmp_path, "max", broken))
    with pytest.raises(UsageError) as info:
        make_plan(Request(paths=(Path(ONE),), options=options))
    assert "max.yaml:" in str(info.value) and "qemu.smp" in str(info.value)


def test_a_kvm_mode_the_machine_lacks_is_refused_by_the_plan(tmp_path: Path) -> None:
    only_vhe = (MACHINES.directory / "max.yaml").read_text() \
        .replace("kvm_modes: [vhe, nvhe]", "kvm_modes: [vhe]")
    options = RunOptions(kvm_mode="nvhe", machines_dir=machines_with(tmp_path, "max", only_vhe))
    with pytest.raises(UsageError, match="supports KVM modes"):
        make_plan(Request(paths=(Path(ONE),), options=options))


def test_unknown_names_are_all_named_with_close_matches() -> None:
    with pytest.raises(UsageError) as info:
        make_plan(Request(paths=(Path(ONE),), kernels=("debian-6.2",),
                          machines=("cortex-a75",), modes=("lnux",)))
    text = str(info.value)
    assert "unknown kernel profile 'debian-6.2'; did you mean 'debian-6.12' or 'debian-6.1'?" \
        in text
    assert "unknown machine profile 'cortex-a75'; did you mean 'cortex-a57'?" in text
    assert "unknown L2 mode 'lnux'; did you mean 'linux'?" in text


def test_series_without_a_source_kernel_is_refused() -> None:
    options = RunOptions(overrides=SourceOverrides(series=(Path("/tmp/x.mbx"),)))
    with pytest.raises(UsageError, match="apply to source kernel profiles"):
        make_plan(Request(paths=(Path(ONE),), options=options))


def test_the_plan_groups_cases_per_kernel_and_machine() -> None:
    plan = make_plan(Request(paths=(Path(ONE),), kernels=("debian-6.1", "debian-6.12"),
                             machines=("max", "cortex-a57")))
    assert [(g.kernel, g.machine) for g in plan.groups] == [
        ("debian-6.1", "max"), ("debian-6.1", "cortex-a57"),
        ("debian-6.12", "max"), ("debian-6.12", "cortex-a57")]
    assert plan.case_count == 4
    assert plan.source_kernels() == []


def test_source_kernels_are_named_for_the_prebuild() -> None:
    plan = make_plan(Request(paths=(Path(ONE),), kernels=("filter-v3", "debian-6.1")))
    assert plan.source_kernels() == ["filter-v3"]


def test_a_bad_name_under_j2_is_exit_2_like_without_it(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """The plan is made in the parent: -j changes nothing about a usage error."""
    for jobs in ("1", "2"):
        assert main(["run", ONE, "--kernel", "debian-6.2", "-j", jobs]) == EXIT_USAGE
        assert "unknown kernel profile 'debian-6.2'" in capsys.readouterr().err
