"""Where a private apt instance fetches from (a profile's ``apt:`` mapping), as a typed
object; its hash names the instance's state directory."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.located import file_problem, string_list_of

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]


@dataclass(frozen=True)
class AptSpec:
    """Where a private apt instance fetches from; its hash names its state directory."""

    sources: tuple[AptSource, ...]
    components: tuple[str, ...] = ("main",)
    keyring: str = DEFAULT_KEYRING
    default_release: str | None = None

    @property
    def name(self) -> str:
        """``<first suite>-<hash>``: readable, and distinct for distinct source sets."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{self.sources[0].suites[0]}-{digest[:10]}"

    def sources_list(self) -> str:
        lines = [
            f"deb [arch=arm64 signed-by={self.keyring}] {source.uri} {suite} "
            + " ".join(self.components)
            for source in self.sources
            for suite in source.suites
        ]
        return "\n".join(lines) + "\n"


def parse_apt_spec(raw: Any, path: Path) -> AptSpec:
    """The ``apt:`` mapping of a profile (or of the L1 userspace recipe)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise file_problem(path, "apt.sources must be a non-empty list of {uri, suites}")
    sources = []
    for item in raw["sources"]:
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            raise file_problem(path, "each apt source needs a uri and suites")
        sources.append(AptSource(item["uri"], string_list_of(item.get("suites"), path, "suites")))
    default_release = raw.get("default_release")
    if default_release is not None and not isinstance(default_release, str):
        raise file_problem(path, "apt.default_release must be a suite name")
    return AptSpec(
        sources=tuple(sources),
        components=string_list_of(raw.get("components", ["main"]), path, "apt.components"),
        keyring=str(raw.get("keyring", DEFAULT_KEYRING)),
        default_release=default_release,
    )
