"""Kernel versions and the filter-behaviour rules each one has (configs/kernel-rules.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, total_ordering
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.paths import CONFIGS_DIR


@total_ordering
@dataclass(frozen=True)
class KernelVersion:
    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> KernelVersion:
        """From ``6.1.158-1`` (a Debian package version), ``6.12.57+deb13-arm64`` or ``5.10``.

        Debian's ``uname -r`` (``6.1.0-41-arm64``) hides the real patch level; prefer the
        package version where there is one.
        """
        match = re.match(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?", text)
        if not match:
            raise UsageError(f"not a kernel version: {text!r} (expected e.g. 6.1 or 6.1.158)")
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KernelVersion):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class Rule:
    id: str
    since: KernelVersion
    backports: tuple[KernelVersion, ...]
    description: str

    def applies_to(self, version: KernelVersion) -> bool:
        if version >= self.since:
            return True
        return any(
            (b.major, b.minor) == (version.major, version.minor) and version >= b
            for b in self.backports
        )

    def cite(self) -> str:
        return f"rule {self.id} (since {self.since.major}.{self.since.minor})"


@dataclass(frozen=True)
class KernelRules:
    """The rules a given kernel version has: the oracle's notion of 'kernel generation'."""

    version: KernelVersion
    active: tuple[Rule, ...]

    def has(self, rule_id: str) -> bool:
        return any(rule.id == rule_id for rule in self.active)

    def get(self, rule_id: str) -> Rule:
        for rule in all_rules():
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def describe(self) -> str:
        names = ", ".join(rule.id for rule in self.active)
        return f"kernel {self.version}: {names}"


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    data = yaml.safe_load((path or CONFIGS_DIR / "kernel-rules.yaml").read_text())
    return tuple(
        Rule(
            id=str(raw["id"]),
            since=KernelVersion.parse(str(raw["since"])),
            backports=tuple(KernelVersion.parse(str(b)) for b in raw.get("backports", ())),
            description=" ".join(str(raw["description"]).split()),
        )
        for raw in data["rules"]
    )


@cache
def all_rules() -> tuple[Rule, ...]:
    return load_rules()


def rules_for(version: KernelVersion) -> KernelRules:
    return KernelRules(version, tuple(r for r in all_rules() if r.applies_to(version)))
