"""The ELF reader on synthetic files: DT_NEEDED, PT_INTERP, RUNPATH, sections, .modinfo."""

from __future__ import annotations

import struct

import pytest

from harness.images.elf import ElfError, read_elf, section_bytes

SHT_STRTAB, SHT_DYNAMIC, SHT_PROGBITS = 3, 6, 1


def make_elf(*, needed: list[str], interp: str | None = None, runpath: str | None = None,
             soname: str | None = None, modinfo: bytes | None = None) -> bytes:
    """A minimal ELF64 LE file with the given dynamic entries and sections."""
    dynstr = b"\0"
    entries: list[tuple[int, int]] = []
    for tag, value in ([(1, n) for n in needed] + ([(14, soname)] if soname else [])
                       + ([(29, runpath)] if runpath else [])):
        entries.append((tag, len(dynstr)))
        dynstr += value.encode() + b"\0"
    dynamic = b"".join(struct.pack("<qQ", t, v) for t, v in [*entries, (0, 0)])
    # .dynamic links to .dynstr (section 1; 0 is SHN_UNDEF)
    sections = [(".dynstr", SHT_STRTAB, dynstr, 0), (".dynamic", SHT_DYNAMIC, dynamic, 1)]
    if modinfo is not None:
        sections.append((".modinfo", SHT_PROGBITS, modinfo, 0))
    shstrtab = b"\0" + b"".join(name.encode() + b"\0" for name, *_ in sections) + b".shstrtab\0"
    sections.append((".shstrtab", SHT_STRTAB, shstrtab, 0))
    body = bytearray(b"\0" * 64)
    phoff = len(body)
    interp_bytes = (interp.encode() + b"\0") if interp else b""
    body += b"\0" * 56 if interp else b""
    offsets = []
    for _, _, data, _ in sections:
        offsets.append(len(body))
        body += data
    if interp:
        interp_offset = len(body)
        body += interp_bytes
        struct.pack_into("<IIQQQQQQ", body, phoff, 3, 4, interp_offset, 0, 0,
                         len(interp_bytes), len(interp_bytes), 1)
    shoff = len(body)
    body += b"\0" * 64  # SHN_UNDEF
    for (name, stype, data, link), offset in zip(sections, offsets, strict=True):
        body += struct.pack("<IIQQQQIIQQ", shstrtab.index(name.encode() + b"\0"), stype, 0, 0,
                            offset, len(data), link, 0, 1, 0)
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 3, 183, 1, 0, phoff if interp else 0, shoff, 0,
                          64, 56, 1 if interp else 0, 64, len(sections) + 1, len(sections))
    body[:64] = header
    return bytes(body)


def test_needed_interpreter_and_runpath() -> None:
    data = make_elf(needed=["libperl.so.5.36", "libc.so.6"],
                    interp="/lib/ld-linux-aarch64.so.1", runpath="$ORIGIN/../lib:/opt/x")
    info = read_elf(data)
    assert info.needed == ("libperl.so.5.36", "libc.so.6")
    assert info.interpreter == "/lib/ld-linux-aarch64.so.1"
    assert info.runpath == ("$ORIGIN/../lib", "/opt/x")


def test_shared_library_without_interpreter() -> None:
    info = read_elf(make_elf(needed=["libc.so.6"], soname="libz.so.1"))
    assert info.interpreter is None and info.soname == "libz.so.1"


def test_modinfo_section() -> None:
    data = make_elf(needed=[], modinfo=b"license=GPL\0depends=virtio,virtio_ring\0")
    assert section_bytes(data, ".modinfo") == b"license=GPL\0depends=virtio,virtio_ring\0"
    assert section_bytes(data, ".nothing") is None


@pytest.mark.parametrize("data", [b"#!/bin/sh\nexec perf_6.1\n", b"\x7fELF\x01\x01" + b"\0" * 60])
def test_not_an_elf64_is_an_error(data: bytes) -> None:
    with pytest.raises(ElfError):
        read_elf(data)
