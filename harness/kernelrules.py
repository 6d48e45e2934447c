"""Kernel versions and the filter-behaviour rules each one has (configs/kernel-rules.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, total_ordering
from pathlib import Path

import yaml

from harness.catalog import KERNEL_RULES_FILE, unknown_name
from harness.errors import UsageError


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
    since: KernelVersion | None  # None: only a revision of the series has it
    backports: tuple[KernelVersion, ...]
    description: str
    title: str = ""  # a few words for tables (review reports); the id when not given

    def applies_to(self, version: KernelVersion) -> bool:
        if self.since is None:
            return False
        if version >= self.since:
            return True
        return any(
            (b.major, b.minor) == (version.major, version.minor) and version >= b
            for b in self.backports
        )

    def cite(self) -> str:
        if self.since is None:
            return f"rule {self.id} (a revision of the series)"
        return f"rule {self.id} (since {self.since.major}.{self.since.minor})"


@dataclass(frozen=True)
class Revision:
    """A posted revision of the filter series: its tree's rules, minus and plus some."""

    id: str
    description: str
    without: tuple[str, ...]
    with_: tuple[str, ...]


@dataclass(frozen=True)
class KernelRules:
    """The rules a given kernel has: the oracle's notion of 'kernel generation' (a version,
    and for a kernel built with a revision of the series, that revision)."""

    version: KernelVersion
    active: tuple[Rule, ...]
    revision: str | None = None

    def has(self, rule_id: str) -> bool:
        return any(rule.id == rule_id for rule in self.active)

    def get(self, rule_id: str) -> Rule:
        for rule in all_rules():
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def describe(self) -> str:
        names = ", ".join(rule.id for rule in self.active) or "no filter rule"
        revision = f" with series revision {self.revision}" if self.revision else ""
        return f"kernel {self.version}{revision}: {names}"


RULES_FILE = KERNEL_RULES_FILE


def _words(text: object) -> str:
    return " ".join(str(text).split())


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    data = yaml.safe_load((path or RULES_FILE).read_text())
    return tuple(
        Rule(
            id=str(raw["id"]),
            since=None if raw.get("revision_only") else KernelVersion.parse(str(raw["since"])),
            backports=tuple(KernelVersion.parse(str(b)) for b in raw.get("backports", ())),
            description=_words(raw["description"]),
            title=_words(raw.get("title") or raw["id"]),
        )
        for raw in data["rules"]
    )


def load_revisions(path: Path | None = None) -> tuple[Revision, ...]:
    data = yaml.safe_load((path or RULES_FILE).read_text())
    return tuple(
        Revision(id=str(raw["id"]), description=_words(raw["description"]),
                 without=tuple(raw.get("without", ())), with_=tuple(raw.get("with", ())))
        for raw in data.get("revisions", ())
    )


@cache
def all_rules() -> tuple[Rule, ...]:
    return load_rules()


@cache
def all_revisions() -> tuple[Revision, ...]:
    return load_revisions()


@cache
def final_revision() -> str:
    """The revision whose behaviour is the documented API (kernel-rules.yaml)."""
    return str(yaml.safe_load(RULES_FILE.read_text()).get("final_revision", ""))


def revision(revision_id: str) -> Revision:
    for item in all_revisions():
        if item.id == revision_id:
            return item
    raise UsageError(unknown_name("series revision", revision_id,
                                  [r.id for r in all_revisions()]))


def rules_for(version: KernelVersion, revision_id: str | None = None) -> KernelRules:
    active = [r for r in all_rules() if r.applies_to(version)]
    if revision_id is None:
        return KernelRules(version, tuple(active))
    chosen = revision(revision_id)
    names = ({r.id for r in active} - set(chosen.without)) | set(chosen.with_)
    return KernelRules(version, tuple(r for r in all_rules() if r.id in names), revision_id)
