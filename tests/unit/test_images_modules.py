"""Module dependency resolution from .modinfo, as done for L1's init."""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import cast

import pytest

from harness.images.modules import (
    MissingModule,
    depends_of,
    load_order,
    module_name,
    parse_modinfo,
    resolve,
    scan_tree,
)
from tests.unit.test_images_elf import make_elf


def test_parse_modinfo_keeps_repeated_keys() -> None:
    info = parse_modinfo(b"alias=a\0alias=b\0depends=\0license=GPL\0")
    assert info == {"alias": ["a", "b"], "depends": [""], "license": ["GPL"]}


def test_depends_canonicalises_names() -> None:
    assert depends_of(b"depends=virtio-ring,net_failover\0") == ("virtio_ring", "net_failover")
    assert depends_of(b"depends=\0") == ()


@pytest.mark.parametrize(("path", "name"), [
    ("kernel/drivers/net/virtio_net.ko", "virtio_net"),
    ("kernel/drivers/virtio/virtio-pci.ko.xz", "virtio_pci"),
    ("x/failover.ko.zst", "failover"),
])
def test_module_name(path: str, name: str) -> None:
    assert module_name(path) == name


DEPENDS = {
    "virtio_net": ("net_failover", "virtio", "virtio_ring"),
    "net_failover": ("failover",),
    "failover": (),
    "virtio_pci": ("virtio_pci_modern_dev", "virtio", "virtio_ring"),
    "virtio_pci_modern_dev": (),
    "virtio": (),
    "virtio_ring": (),
}


def test_dependencies_come_first_and_once() -> None:
    order = load_order(["virtio_pci", "virtio_net"], DEPENDS, available=DEPENDS)
    assert order == ["virtio_pci_modern_dev", "virtio", "virtio_ring", "virtio_pci",
                     "failover", "net_failover", "virtio_net"]


def test_builtin_modules_are_skipped() -> None:
    order = load_order(["virtio_pci", "virtio_net"], DEPENDS,
                       available=DEPENDS, builtin={"virtio_pci", "virtio", "virtio_ring"})
    assert order == ["failover", "net_failover", "virtio_net"]


def test_missing_module_is_reported_unless_optional() -> None:
    with pytest.raises(MissingModule, match="vhost"):
        load_order(["vhost"], {}, available=DEPENDS)
    assert load_order(["vhost", "failover"], {}, available=DEPENDS, optional=["vhost"]) == [
        "failover"]


def _module(path: Path, depends: str, *, xz: bool = False) -> None:
    data = make_elf(needed=[], modinfo=f"license=GPL\0depends={depends}\0".encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lzma.compress(data) if xz else data)


def test_resolve_reads_plain_and_xz_modules(tmp_path: Path) -> None:
    release = tmp_path / "lib/modules/6.12.1-arm64"
    _module(release / "kernel/drivers/net/virtio_net.ko.xz", "net_failover", xz=True)
    _module(release / "kernel/drivers/net/net_failover.ko.xz", "failover", xz=True)
    _module(release / "kernel/net/core/failover.ko", "")
    (release / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\n")
    tree = scan_tree(release)
    assert "virtio_pci" in tree.builtin
    files = resolve(tree, ["virtio_pci", "virtio_net"])
    assert [module_name(f) for f in files] == ["failover", "net_failover", "virtio_net"]


def test_optional_modules_are_loaded_when_present(tmp_path: Path) -> None:
    # guest-images/l1/modules.txt: virtio_pci, virtio_net, and virtio_console if present.
    from harness.images.kernel import KernelPlan, resolve_modules

    release = tmp_path / "lib/modules/6.1.0-arm64"
    for name in ("virtio_pci", "virtio_net", "virtio_console"):
        _module(release / f"kernel/drivers/{name}.ko", "")
    plan = cast(KernelPlan, None)  # only named in the error for a missing required module
    names = [module_name(f) for f in resolve_modules(release, plan)]
    assert names == ["virtio_pci", "virtio_net", "virtio_console"]
    (release / "kernel/drivers/virtio_console.ko").unlink()
    assert [module_name(f) for f in resolve_modules(release, plan)] == [
        "virtio_pci", "virtio_net"]
