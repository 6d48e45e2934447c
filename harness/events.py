"""The PMU event table (configs/events.yaml): names, numbers, sysfs and perf aliases."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from harness.catalog import EVENTS_FILE

EVENT_SPACE = 1 << 16
CYCLE_COUNTER = "cycle_counter"
"""Name scenarios use for PMCCNTR, which the filter controls through CPU_CYCLES (0x11)."""
CPU_CYCLES = 0x11
SW_INCR = 0x00
CHAIN = 0x1E


@dataclass(frozen=True)
class Event:
    number: int
    name: str
    sysfs: str | None  # None: the Linux PMUv3 driver lists no file for it


@dataclass(frozen=True)
class EventTable:
    events: tuple[Event, ...]

    def by_name(self, name: str) -> Event | None:
        return self._by_name.get(name.upper())

    def by_number(self, number: int) -> Event | None:
        return self._by_number.get(number)

    def name_of(self, number: int) -> str:
        """Mnemonic of an event, or its hex number when the table has no name for it."""
        event = self.by_number(number)
        return event.name if event else f"0x{number:04x}"

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Known names closest to a misspelt one."""
        return difflib.get_close_matches(name.upper(), list(self._by_name), n=limit, cutoff=0.6)

    @cached_property
    def _by_name(self) -> dict[str, Event]:
        return {e.name: e for e in self.events}

    @cached_property
    def _by_number(self) -> dict[int, Event]:
        return {e.number: e for e in self.events}


def _event_from(raw: dict[str, Any]) -> Event:
    return Event(
        number=int(raw["number"]),
        name=str(raw["name"]),
        sysfs=str(raw["sysfs"]) if raw.get("sysfs") else None,
    )


def load_event_table(path: Path | None = None) -> EventTable:
    source = path or EVENTS_FILE
    data = yaml.safe_load(source.read_text())
    return EventTable(tuple(_event_from(raw) for raw in data["events"]))


@cache
def default_event_table() -> EventTable:
    return load_event_table()


def format_event(number: int) -> str:
    """``CPU_CYCLES (0x0011)``: how every message names an event."""
    return f"{default_event_table().name_of(number)} (0x{number:04x})"
