"""Kernel profiles: every shipped profile parses; bad ones are the user's error, with the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.catalog import KERNELS
from harness.errors import UsageError
from harness.images.kinds import load_profile, parse_profile
from harness.images.profiles import KernelProfile

SHIPPED = ["debian-5.10", "debian-6.1", "debian-6.12", "debian-latest", "local"]


def test_all_issue_profiles_are_shipped() -> None:
    assert set(SHIPPED) <= set(KERNELS.names())


@pytest.mark.parametrize(
    ("name", "suite"),
    [("debian-5.10", "bullseye"), ("debian-6.1", "bookworm"), ("debian-6.12", "trixie"),
     ("debian-latest", "trixie")],
)
def test_debian_profiles_use_one_release_only(name: str, suite: str) -> None:
    profile = load_profile(name)
    assert profile.kind == "debian" and profile.apt is not None
    assert profile.metapackage == "linux-image-arm64"
    suites = [s for source in profile.apt.sources for s in source.suites]
    assert all(s == suite or s.startswith(f"{suite}-") for s in suites)
    assert profile.apt.name.startswith(suite)
    assert "arch=arm64" in profile.apt.sources_list()
    assert "signed-by=/usr/share/keyrings/debian-archive-keyring.gpg" in profile.apt.sources_list()


def test_latest_prefers_backports() -> None:
    profile = load_profile("debian-latest")
    assert profile.apt is not None and profile.apt.default_release == "trixie-backports"


def test_distinct_source_sets_get_distinct_apt_dirs() -> None:
    names = {apt.name for n in SHIPPED if (apt := load_profile(n).apt) is not None}
    assert len(names) == 4


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(UsageError, match=r"debian-6\.1"):
        load_profile("debian-9")


def _parse(tmp_path: Path, text: str, name: str = "x") -> KernelProfile:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return parse_profile(yaml.safe_load(text), path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: y\nkind: debian\n", "must match the file name"),
        ("name: x\nkind: vendor\n", "kind: unknown kernel profile kind 'vendor'"),
        ("name: x\nkind: source\n", "needs tree"),
        ("name: x\nkind: source\ntree: {package: linux-image-arm64, version: 1}\n",
         "linux-source-X"),
        ("name: x\nkind: source\ntree: {package: linux-source-5.10, version: 5.10.223-1, "
         "apt: {sources: [{uri: u, suites: [s]}]}}\n", "fragments must be a list"),
        ("name: x\nkind: debian\napt: {sources: []}\nmetapackage: m\n", "apt.sources"),
        ("name: x\nkind: debian\napt: {sources: [{uri: u, suites: [s]}]}\n", "metapackage"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_profiles_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        _parse(tmp_path, text)
    assert caught.value.problems[0].path == tmp_path / "x.yaml"


def test_local_profile_needs_no_apt(tmp_path: Path) -> None:
    profile = _parse(tmp_path, "name: x\nkind: local\n")
    assert profile.apt is None


SOURCE_PROFILES = {"filter-base": "base", "filter-v1": "v1", "filter-v2": "v2",
                   "filter-v3": "v3", "filter-v3-fixes": "v3-fixes", "filter-v3-debug": "v3",
                   "source-5.10": None}


@pytest.mark.parametrize(("name", "revision"), sorted(SOURCE_PROFILES.items()))
def test_source_profiles_pin_the_5_10_tree_and_name_their_revision(name: str,
                                                                   revision: str | None
                                                                   ) -> None:
    profile = load_profile(name)
    assert profile.kind == "source" and profile.source is not None
    assert (profile.source.package, profile.source.version) == ("linux-source-5.10",
                                                                 "5.10.223-1")
    assert profile.revision == revision
    assert profile.source.fragments == ("kvm-host",)
    expected_series = {"base": ("base",), "v3-fixes": ("base", "pmu-filter-v3",
                                                       "pmu-filter-fixes"),
                       None: ()}.get(revision, ("base", f"pmu-filter-{revision}"))
    assert profile.source.series == expected_series
    assert profile.source.options == (("debug",) if name.endswith("-debug") else ())


def test_every_kind_keys_the_image_cache() -> None:
    # A change to any kind's code must give new image sets; the list is read from the
    # registry, so a new kind cannot be left out of it.
    from harness.images.build import CODE
    from harness.images.kinds import REGISTRY

    for kind in REGISTRY.values():
        module = type(kind).__module__
        assert module.removeprefix("harness.").replace(".", "/") in CODE, module
    assert {"images/kinds/debian", "images/kinds/local", "images/kinds/source"} <= set(CODE)


def test_l1_command_line_words(tmp_path: Path) -> None:
    profile = _parse(tmp_path, "name: x\nkind: local\nl1_command_line: "
                               "[arm64.nolva, kvm-arm.mode=nvhe]\n")
    assert profile.l1_command_line == ("arm64.nolva", "kvm-arm.mode=nvhe")
    assert _parse(tmp_path, "name: x\nkind: local\n").l1_command_line == ()


@pytest.mark.parametrize("words", ["arm64.nolva", "[a b]", "['x;reboot']", "['a=$(id)']", "[1]"])
def test_l1_command_line_takes_single_parameters_only(tmp_path: Path, words: str) -> None:
    with pytest.raises(UsageError, match="l1_command_line") as caught:
        _parse(tmp_path, f"name: x\nkind: local\nl1_command_line: {words}\n")
    assert caught.value.problems[0].path == tmp_path / "x.yaml"


def test_debian_latest_caps_l1_addresses_at_48_bits() -> None:
    # Its L1's QEMU made 52-bit scratch VMs whose teardown cost ~2.3 s under TCG
    # (bench/speed_results.md).
    assert "arm64.nolva" in load_profile("debian-latest").l1_command_line
    assert load_profile("debian-6.1").l1_command_line == ()
