"""Nothing trusted that came from a file (issue 15): file names, bundles, profiles, suites
and descriptions cannot steer what the harness writes, reads, runs or prints."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.bundle import BUNDLE_FILE, MACHINES_SUBDIR, SCENARIO_FILE, read_bundle
from harness.cli import main
from harness.commands.rerun import refuse_bundle_host_paths
from harness.errors import Located, UsageError
from harness.filterfile import parse, render
from harness.images.keys import SshKeys, install_key_files
from harness.images.l1 import concatenate, write_overlay
from harness.machine.profile import MACHINES_DIR, load_machine_profile
from harness.paths import SCENARIOS_DIR
from harness.printable import printable
from harness.scenario.parse import parse_scenario
from harness.suite import load_suite
from tests.fuzz import bundle_seeds

UNFILTERED = """\
id: t
description: d
filters: none
workload:
  events: [CPU_CYCLES]
"""


# -- the filter file --------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\n", "\r", "\x85", "\u2028", "\x1c", "\x0b"])
def test_a_file_name_cannot_add_a_filter_line(tmp_path: Path, separator: str) -> None:
    name = f"x{separator}filter 0 0x11 1 deny{separator}.yaml"
    path = tmp_path / name
    path.write_text(UNFILTERED)
    scenario = parse_scenario(path)
    for with_filters in (True, False):
        text = render(scenario, with_filters=with_filters)
        assert parse(text).steps == ()
        assert text.count("\n") == 4
        assert separator == "\n" or separator not in text
    assert "# scenario t: x\\" in render(scenario)


def test_the_python_reader_ends_lines_where_the_c_reader_does() -> None:
    # The C reader (getline) ends a line at "\n" only: a comment runs on past U+2028.
    text = "pmu-harness-filter 1\n# c\u2028filter 0 0x11 1 deny\x85init 0\rrun 0\n"
    assert parse(text).steps == ()


def test_filter_file_errors_are_usage_errors_with_a_line() -> None:
    with pytest.raises(UsageError) as info:
        parse("pmu-harness-filter 1\nfilter 0 0x11 1\n")
    assert info.value.problems[0].line == 2


# -- rerun and bundles ------------------------------------------------------------------


def bundle(tmp_path: Path, **changes: dict[str, object]) -> Path:
    directory = tmp_path / "bundle"
    (directory / MACHINES_SUBDIR).mkdir(parents=True)
    shutil.copyfile(SCENARIOS_DIR / "member-deny.yaml", directory / SCENARIO_FILE)
    shutil.copyfile(MACHINES_DIR / "max.yaml", directory / MACHINES_SUBDIR / "max.yaml")
    data = json.loads(bundle_seeds()[0])
    for section, fields in changes.items():
        data[section].update(fields)
    (directory / BUNDLE_FILE).write_text(json.dumps(data))
    return directory


@pytest.mark.parametrize(("section", "key", "value"), [
    ("case", "machine", "../../../../tmp/x"),
    ("case", "machine", "/etc/passwd"),
    ("case", "kernel", "../x"),
    ("case", "kernel", "debian-6.1/../../x"),
    ("kernel", "profile", "../../../tmp/evil"),
    ("case", "scenario", "x\ny"),
    ("case", "mode", "probe; rm -rf /"),
    ("kernel", "image_sha256", 17),
    ("kernel", "cache_key", ["k"]),
    ("result", "result", {"a": 1}),
])
def test_bundle_names_that_could_escape_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str,
        value: object) -> None:
    directory = bundle(tmp_path, **{section: {key: value}})
    with pytest.raises(UsageError) as info:
        read_bundle(directory)
    assert f"{section}.{key}" in str(info.value)
    assert main(["rerun", str(directory)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_machine_the_bundle_does_not_carry_is_refused(tmp_path: Path) -> None:
    directory = bundle(tmp_path, case={"machine": "cortex-a57"})
    with pytest.raises(UsageError, match=r"no machine profile machines/cortex-a57\.yaml"):
        read_bundle(directory)


def test_a_good_bundle_is_read(tmp_path: Path) -> None:
    assert read_bundle(bundle(tmp_path)).case["machine"] == "max"


def test_paths_recorded_in_a_bundle_are_never_opened() -> None:
    refuse_bundle_host_paths({"local_image": None, "local_modules": None})
    with pytest.raises(UsageError, match="--kernel-image"):
        refuse_bundle_host_paths({"local_image": "/etc/shadow", "local_modules": None})


@pytest.mark.parametrize(("key", "value"), [
    ("machine", "virt,dumpdtb=/home/user/.bashrc"),
    ("machine", "virt,virtualization=on -device x"),
    ("machine", "pc"),
    ("cpu", "max,x=$(touch /tmp/x)"),
    ("cpu", "max -kernel /etc/passwd"),
])
def test_a_machine_profile_cannot_put_options_on_qemus_command_line(
        tmp_path: Path, key: str, value: str) -> None:
    text = (MACHINES_DIR / "max.yaml").read_text()
    original = {"machine": "virt,virtualization=on,gic-version=3", "cpu": "max"}[key]
    (tmp_path / "max.yaml").write_text(text.replace(f"{key}: {original}", f"{key}: '{value}'"))
    with pytest.raises(UsageError) as info:
        load_machine_profile("max", tmp_path)
    assert f"qemu.{key}" in str(info.value)


def test_shipped_machine_profiles_pass_the_checks() -> None:
    for name in ("max", "cortex-a57", "max-icount"):
        assert load_machine_profile(name).machine.startswith("virt,")


# -- suites, listings, messages ---------------------------------------------------------


@pytest.mark.parametrize("name", ["../machines/max", "../../testcases/scenarios/member-deny",
                                  "{tmp}/suite", "smoke/../smoke", "smoke.yaml"])
def test_suite_is_a_name_not_a_path(name: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Every one of these is a YAML file that exists: a path would have been read.
    (tmp_path / "suite.yaml").write_text("runs: [{scenarios: [/etc], kernels: [x]}]\n")
    name = name.format(tmp=tmp_path)
    with pytest.raises(UsageError, match="unknown suite"):
        load_suite(name)
    assert main(["run", "--suite", name]) == 2
    assert "unknown suite" in capsys.readouterr().err


def test_list_shows_escape_sequences_instead_of_sending_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.yaml").write_text(UNFILTERED.replace(
        "description: d", 'description: "\\e[2J\\e]0;pwned\\a red \\u2028 x"'))
    assert main(["list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u2028" not in out
    assert "\\x1b[2J\\x1b]0;pwned\\x07 red \\u2028 x" in out


def test_file_names_in_messages_are_printable() -> None:
    assert str(Located(Path("a\x1b[31m.yaml"), 3, "m")) == "a\\x1b[31m.yaml:3: m"
    assert printable("ok \t\u202e") == "ok \\x09\\u202e"


# -- secrets on disk --------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: a file is private only if it was created with a private mode."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_l1_initramfs_is_private_from_the_first_byte(tmp_path: Path,
                                                         open_umask: None) -> None:
    (tmp_path / "a").write_bytes(b"userspace")
    (tmp_path / "b").write_bytes(b"host key inside")
    out = tmp_path / "l1-initrd.cpio"
    out.write_bytes(b"old")
    out.chmod(0o644)  # a file left by an older build must not keep its mode
    concatenate([tmp_path / "a", tmp_path / "b"], out)
    assert _mode(out) == 0o600
    assert out.read_bytes() == b"userspacehost key inside"


def test_the_overlay_with_the_host_key_is_private(tmp_path: Path, open_umask: None) -> None:
    from harness.images.kernel import KernelFiles

    for name in ("Image", "initrd", "host", "client"):
        (tmp_path / name).write_bytes(name.encode())
    keys = SshKeys(tmp_path / "client", "ssh-ed25519 AAAA c", tmp_path / "host",
                   "ssh-ed25519 BBBB")
    out = tmp_path / "overlay.cpio"
    write_overlay(out, kernel=KernelFiles(tmp_path / "Image", "6.1.0"),
                  l2_initrd=tmp_path / "initrd", keys=keys, tools={}, info={})
    assert _mode(out) == 0o600


def test_the_client_key_is_created_0600_not_chmod_ed(tmp_path: Path, open_umask: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source, out = tmp_path / "keys", tmp_path / "set"
    source.mkdir()
    out.mkdir()
    for name in ("id_ed25519", "id_ed25519.pub", "host_key.pub"):
        (source / name).write_text(name)
    keys = SshKeys(source / "id_ed25519", "pub", source / "host", "ssh-ed25519 B")

    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("the key must not need a chmod")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    install_key_files(keys, out)
    assert _mode(out / "id_ed25519") == 0o600
    assert (out / "id_ed25519").read_text() == "id_ed25519"
    assert (out / "host_key.pub").read_text() == "host_key.pub"
