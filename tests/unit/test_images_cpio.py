"""The newc writer (read back with a small reader), guest-tree symlinks, the L2 closure."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from harness.images.closure import ClosureError, library_closure, prune_libraries
from harness.images.cpio import CpioWriter, write_tree
from harness.images.l2 import real_perf
from harness.images.l2kernel import GUEST_MODULE, write_module_cpio
from harness.images.recipe import L2_DIR
from harness.images.tree import remove_globs, resolve
from tests.unit.test_images_elf import make_elf


def read_cpio(data: bytes) -> dict[str, tuple[int, int, int, bytes]]:
    """name -> (mode, uid, rdevmajor, contents) for every entry up to the trailer."""
    entries: dict[str, tuple[int, int, int, bytes]] = {}
    offset = 0
    while True:
        header = data[offset:offset + 110]
        assert header[:6] == b"070701"
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = fields[11], fields[6]
        name = data[offset + 110:offset + 110 + namesize - 1].decode()
        offset = (offset + 110 + namesize + 3) & ~3
        body = data[offset:offset + filesize]
        offset = (offset + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return entries
        entries[name] = (fields[1], fields[2], fields[9], body)


def test_writer_entries_round_trip() -> None:
    out = io.BytesIO()
    writer = CpioWriter(out)
    writer.add_dir("etc", 0o755, uid=0)
    writer.add_bytes("etc/hostname", b"l1\n", mode=0o644)
    writer.add_symlink("bin/sh", "busybox")
    writer.add_node("dev/console", "c", 5, 1)
    writer.finish()
    entries = read_cpio(out.getvalue())
    assert stat.S_ISDIR(entries["etc"][0])
    assert entries["etc/hostname"][3] == b"l1\n"
    assert stat.S_ISLNK(entries["bin/sh"][0]) and entries["bin/sh"][3] == b"busybox"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][2] == 5
    assert len(out.getvalue()) % 4 == 0


def test_tree_keeps_directory_symlinks_without_following(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/perf").write_bytes(b"\x7fELF")
    (root / "usr/bin/perf").chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    write_tree(root, tmp_path / "out.cpio")
    entries = read_cpio((tmp_path / "out.cpio").read_bytes())
    assert entries["bin"][3] == b"usr/bin"
    assert stat.S_IMODE(entries["usr/bin/perf"][0]) == 0o755
    assert "bin/perf" not in entries


def test_resolve_follows_absolute_links_inside_the_tree(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/aarch64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/aarch64-linux-gnu/libc.so.6").write_text("c")
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "usr/lib/ld.so").symlink_to("/lib/aarch64-linux-gnu/libc.so.6")
    found = resolve(tmp_path, "/lib/ld.so")
    assert found == tmp_path / "usr/lib/aarch64-linux-gnu/libc.so.6"
    assert resolve(tmp_path, "/lib/missing") is None


def _lib_tree(root: Path, *, with_libz: bool = True) -> None:
    libdir = root / "usr/lib/aarch64-linux-gnu"
    libdir.mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "usr/bin/perf").write_bytes(make_elf(
        needed=["libz.so.1", "libc.so.6"], interp="/lib/ld-linux-aarch64.so.1"))
    (root / "usr/lib/ld-linux-aarch64.so.1").symlink_to("aarch64-linux-gnu/ld.so")
    (libdir / "ld.so").write_bytes(make_elf(needed=[]))
    (libdir / "libc.so.6").write_bytes(make_elf(needed=[]))
    if with_libz:
        (libdir / "libz.so.1.3").write_bytes(make_elf(needed=["libc.so.6"]))
        (libdir / "libz.so.1").symlink_to("libz.so.1.3")


def test_library_closure_is_transitive(tmp_path: Path) -> None:
    _lib_tree(tmp_path)
    closure = library_closure(tmp_path, ["/usr/bin/perf"])
    assert set(closure) == {"/usr/bin/perf", "/lib/ld-linux-aarch64.so.1",
                            "/lib/aarch64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libc.so.6"}
    assert closure["/lib/aarch64-linux-gnu/libz.so.1"].name == "libz.so.1.3"


def test_missing_library_is_named(tmp_path: Path) -> None:
    _lib_tree(tmp_path, with_libz=False)
    with pytest.raises(ClosureError, match=r"libz\.so\.1"):
        library_closure(tmp_path, ["/usr/bin/perf"])


def test_perf_wrapper_script_picks_the_versioned_binary(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/perf").write_text('#!/bin/sh\nexec "perf_$version" "$@"\n')
    (tmp_path / "usr/bin/perf_5.10").write_bytes(b"\x7fELF")
    (tmp_path / "usr/bin/perf_6.1").write_bytes(b"\x7fELF")
    assert real_perf(tmp_path) == "/usr/bin/perf_6.1"
    (tmp_path / "usr/bin/perf").write_bytes(b"\x7fELF")
    assert real_perf(tmp_path) == "/usr/bin/perf"


def test_trim_removes_globs(tmp_path: Path) -> None:
    (tmp_path / "usr/share/doc/x").mkdir(parents=True)
    (tmp_path / "usr/share/qemu").mkdir(parents=True)
    (tmp_path / "usr/share/qemu/efi-virtio.rom").write_text("x")
    (tmp_path / "usr/share/qemu/keymaps").mkdir()
    remove_globs(tmp_path, ("usr/share/doc", "usr/share/qemu/*.rom"))
    assert not (tmp_path / "usr/share/doc").exists()
    assert sorted(p.name for p in (tmp_path / "usr/share/qemu").iterdir()) == ["keymaps"]


def test_prune_keeps_the_closure_and_the_keep_list(tmp_path: Path) -> None:
    _lib_tree(tmp_path)
    libdir = tmp_path / "usr/lib/aarch64-linux-gnu"
    (libdir / "libunused.so.2").write_bytes(make_elf(needed=[]))
    (libdir / "libgcc_s.so.1").write_bytes(make_elf(needed=[]))
    (libdir / "libdangling.so").symlink_to("libunused.so.2")
    freed = prune_libraries(tmp_path, ("libgcc_s.so.1",))
    assert freed > 0
    assert sorted(p.name for p in libdir.iterdir()) == [
        "ld.so", "libc.so.6", "libgcc_s.so.1", "libz.so.1", "libz.so.1.3"]


@pytest.mark.parametrize("base_size", [4096, 10993, 10994, 10995])
def test_pmu_module_cpio_starts_where_the_kernel_looks_for_it(tmp_path: Path,
                                                              base_size: int) -> None:
    # L1 appends it to the gzip'd L2 initramfs; the kernel reads an uncompressed archive
    # after a compressed one only from a 4-byte boundary of the whole file.
    module = tmp_path / "arm_pmuv3.ko"
    module.write_bytes(b"\x7fELF module")
    out = tmp_path / "module.cpio"
    write_module_cpio(module, base_size, out)
    data = out.read_bytes()
    lead = len(data) - len(data.lstrip(b"\0"))
    assert (base_size + lead) % 4 == 0 and lead < 4
    entries = read_cpio(data[lead:])
    assert entries[GUEST_MODULE][3] == b"\x7fELF module"
    assert f"insmod /{GUEST_MODULE}" in (L2_DIR / "init").read_text()  # where L2 looks
