"""The PMCEID0/1 layout: which bit of which register stands for which common event.

Each register is read here as 64 bits (PMCEID0_EL0 / PMCEID1_EL0; the high word is the
ARMv8.1 extension): PMCEID0 bits 0-31 are events 0x00-0x1F and bits 32-63 events
0x4000-0x401F; PMCEID1 bits 0-31 are events 0x20-0x3F and bits 32-63 events 0x4020-0x403F.
Every other event number (IMPLEMENTATION DEFINED ones) has no bit.
"""

from __future__ import annotations

from collections.abc import Iterable

HIGH_EVENTS = 0x4000   # the first event of the high words
WORD_EVENTS = 32       # events per 32-bit word
COMMON_EVENTS = 0x40   # events 0x00-0x3F have a bit in the low words
WORD = (1 << 32) - 1


def bit_of(event: int) -> tuple[int, int] | None:
    """(register 0 or 1, bit 0-63) of an event, or None if it has no PMCEID bit."""
    offset, high = (event, 0) if event < HIGH_EVENTS else (event - HIGH_EVENTS, 32)
    if not 0 <= offset < COMMON_EVENTS:
        return None
    return offset // WORD_EVENTS, high + offset % WORD_EVENTS


def event_of(register: int, bit: int) -> int:
    """The event number PMCEID``register`` bit ``bit`` stands for."""
    base = register * WORD_EVENTS
    return base + bit if bit < 32 else HIGH_EVENTS + base + bit - 32


def events_in(pmceid0: int, pmceid1: int) -> frozenset[int]:
    """Event numbers whose PMCEID bit is set."""
    return frozenset(event_of(register, bit)
                     for register, word in enumerate((pmceid0, pmceid1))
                     for bit in range(64) if word >> bit & 1)


def words_for(events: Iterable[int]) -> tuple[int, int]:
    """PMCEID0/1 with a bit set per event that has one."""
    words = [0, 0]
    for event in events:
        place = bit_of(event)
        if place is not None:
            words[place[0]] |= 1 << place[1]
    return words[0], words[1]


def filter_word(mask: int | None, nr_events: int, register: int) -> int:
    """The bits of PMCEID``register`` a filter bitmap (bit n = event n allowed; None: no
    filter) leaves visible; the high word only where the event space reaches it."""
    if mask is None:
        return (1 << 64) - 1
    base = register * WORD_EVENTS
    low = (mask >> base) & WORD
    high = 0
    if nr_events >= HIGH_EVENTS + base + WORD_EVENTS:
        high = (mask >> (HIGH_EVENTS + base)) & WORD
    return low | high << 32
