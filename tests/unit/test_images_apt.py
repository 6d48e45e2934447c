"""Recipe resolution from apt's output: pure parsing, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store.apt import (
    apt_config,
    image_dependency,
    parse_control_field,
    parse_print_uris,
    same_version_parts,
)
from harness.store.aptspec import AptSource, AptSpec

# Real apt output; the last URI has no hash, so its line ends in spaces.
_POOL = "http://deb.debian.org/debian"
PRINT_URIS = (
    f"'{_POOL}/pool/main/b/busybox/busybox-static_1.35.0-4%2bdeb12u1%2bb1_arm64.deb'"
    " busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb 822236"
    " MD5Sum:49b1dbf1d63fbb662fb329033600c6ca\n"
    f"'{_POOL}-security/pool/updates/main/l/linux/linux-perf_6.1.192-2_arm64.deb'"
    " linux-perf_6.1.192-2_arm64.deb 2967208  \n"
    "Reading package lists...\n"
)

META = """\
Package: linux-image-arm64
Source: linux-signed-arm64 (6.1.192+2)
Version: 6.1.192-2
Depends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)
Description: Linux for 64-bit ARMv8 machines (meta-package)
"""


def test_print_uris_parses_epochs_and_missing_hashes() -> None:
    busybox, perf = parse_print_uris(PRINT_URIS)
    assert (busybox.package, busybox.version, busybox.arch) == (
        "busybox-static", "1:1.35.0-4+deb12u1+b1", "arm64")
    assert busybox.size == 822236 and busybox.sha256 == ""
    assert perf.uri.endswith("linux-perf_6.1.192-2_arm64.deb") and perf.version == "6.1.192-2"


def test_print_uris_keeps_a_sha256_when_given() -> None:
    line = "'http://x/a_1_arm64.deb' a_1_arm64.deb 5 SHA256:" + "ab" * 32
    assert parse_print_uris(line)[0].sha256 == "ab" * 32


def test_metapackage_resolves_to_the_exact_image_package() -> None:
    depends = parse_control_field(META, "Depends") or ""
    assert image_dependency(depends) == "linux-image-6.1.0-56-arm64"
    assert parse_control_field(META, "Version") == "6.1.192-2"


def test_backports_metapackage_with_extra_dependencies() -> None:
    depends = ("linux-base-arm64 (= 7.3.4-1~bpo13+1), linux-image-7.3.4+deb13-arm64 "
               "(= 7.3.4-1~bpo13+1), linux-modules-arm64 (= 7.3.4-1~bpo13+1)")
    assert image_dependency(depends) == "linux-image-7.3.4+deb13-arm64"


def test_no_image_dependency_is_an_error() -> None:
    with pytest.raises(ValueError, match="linux-image-"):
        image_dependency("kmod, linux-base")


def test_split_kernel_parts_follow_the_exact_version() -> None:
    depends = ("dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
               "linux-base-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1), "
               "linux-binary-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1), "
               "linux-modules-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1)")
    assert same_version_parts(depends, "7.3.4-1~bpo13+1", "7.3.4+deb13-arm64") == [
        "linux-base-7.3.4+deb13-arm64", "linux-binary-7.3.4+deb13-arm64",
        "linux-modules-7.3.4+deb13-arm64"]


def test_single_package_kernels_have_no_parts() -> None:
    depends = "kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool"
    assert same_version_parts(depends, "6.1.192-2", "6.1.0-56-arm64") == []


def test_apt_config_is_private_and_arm64_only(tmp_path: Path) -> None:
    spec = AptSpec(sources=(AptSource("http://m/debian", ("trixie", "trixie-backports")),),
                   default_release="trixie-backports")
    text = apt_config(tmp_path, spec)
    assert 'APT::Architectures { "arm64"; };' in text
    assert 'APT::Default-Release "trixie-backports";' in text
    for line in text.splitlines():
        if line.startswith("Dir::"):
            assert str(tmp_path) in line, line
    assert "\"/etc/apt" not in text
