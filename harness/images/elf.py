"""A minimal ELF64 little-endian reader: enough to list DT_NEEDED, PT_INTERP and sections.

Guest binaries are arm64; nothing here executes them, it only reads their headers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
PT_INTERP = 3
SHT_DYNAMIC = 6
DT_NULL = 0
DT_NEEDED = 1
DT_SONAME = 14
DT_RUNPATH = 29
DT_RPATH = 15


class ElfError(ValueError):
    """The bytes are not a 64-bit little-endian ELF file we can read."""


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    offset: int
    size: int
    link: int


@dataclass(frozen=True)
class ElfInfo:
    needed: tuple[str, ...]
    interpreter: str | None
    soname: str | None
    runpath: tuple[str, ...]


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def _check_header(data: bytes) -> None:
    if not is_elf(data):
        raise ElfError("not an ELF file")
    if data[4] != ELFCLASS64 or data[5] != ELFDATA2LSB:
        raise ElfError("not a 64-bit little-endian ELF file")


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise ElfError(f"unterminated string at offset {offset}")
    return data[offset:end].decode("utf-8", "replace")


def sections(data: bytes) -> list[Section]:
    """All section headers, with names resolved through the section-name string table."""
    _check_header(data)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shnum == 0:
        return []
    raw = []
    for index in range(shnum):
        base = shoff + index * shentsize
        name, stype, _flags, _addr, offset, size, link = struct.unpack_from(
            "<IIQQQQI", data, base
        )
        raw.append((name, stype, offset, size, link))
    strtab_offset = raw[shstrndx][2]
    return [
        Section(_cstring(data, strtab_offset + name), stype, offset, size, link)
        for name, stype, offset, size, link in raw
    ]


def section_bytes(data: bytes, name: str) -> bytes | None:
    """The contents of the first section called ``name``, or None."""
    for section in sections(data):
        if section.name == name:
            return data[section.offset : section.offset + section.size]
    return None


def _interpreter(data: bytes) -> str | None:
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for index in range(phnum):
        base = phoff + index * phentsize
        ptype, _flags, offset, _vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", data, base)
        if ptype == PT_INTERP:
            return data[offset : offset + filesz].rstrip(b"\0").decode()
    return None


def _dynamic_entries(data: bytes, table: list[Section]) -> list[tuple[int, str]]:
    entries: list[tuple[int, str]] = []
    for section in table:
        if section.type != SHT_DYNAMIC:
            continue
        strtab = table[section.link]
        for base in range(section.offset, section.offset + section.size, 16):
            tag, value = struct.unpack_from("<qQ", data, base)
            if tag == DT_NULL:
                break
            if tag in (DT_NEEDED, DT_SONAME, DT_RUNPATH, DT_RPATH):
                entries.append((tag, _cstring(data, strtab.offset + value)))
    return entries


def read_elf(data: bytes) -> ElfInfo:
    """DT_NEEDED, PT_INTERP, DT_SONAME and DT_RUNPATH/DT_RPATH of an ELF image."""
    table = sections(data)
    entries = _dynamic_entries(data, table)
    soname = next((value for tag, value in entries if tag == DT_SONAME), None)
    runpath = tuple(
        part for tag, value in entries if tag in (DT_RUNPATH, DT_RPATH) for part in value.split(":")
    )
    return ElfInfo(
        needed=tuple(value for tag, value in entries if tag == DT_NEEDED),
        interpreter=_interpreter(data),
        soname=soname,
        runpath=runpath,
    )
