"""Suites (configs/suites/*.yaml): named selections of scenarios x kernels x machines x modes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError
from harness.paths import CONFIGS_DIR, PROJECT_ROOT
from harness.printable import printable


@dataclass(frozen=True)
class SuiteRun:
    scenarios: tuple[Path, ...]
    tags: tuple[str, ...]
    kernels: tuple[str, ...]
    machines: tuple[str, ...]
    modes: tuple[str, ...]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    runs: tuple[SuiteRun, ...]


def suite_names() -> list[str]:
    return sorted(p.stem for p in (CONFIGS_DIR / "suites").glob("*.yaml"))


def _strings(raw: dict[str, Any], key: str, where: str, default: tuple[str, ...] = ()
             ) -> tuple[str, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key} must be a list of names")
    return tuple(value)


def _run(raw: Any, where: str) -> SuiteRun:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: each run is a mapping (scenarios, kernels, machines, ...)")
    unknown = set(raw) - {"scenarios", "tags", "kernels", "machines", "modes"}
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return SuiteRun(
        scenarios=tuple(PROJECT_ROOT / p for p in _strings(raw, "scenarios", where)),
        tags=_strings(raw, "tags", where),
        kernels=_strings(raw, "kernels", where),
        machines=_strings(raw, "machines", where),
        modes=_strings(raw, "modes", where, ("probe",)),
    )


def load_suite(name: str) -> Suite:
    # A name, never a path: `--suite ../../x` must not read any YAML file on the host.
    if name not in suite_names():
        raise UsageError(f"unknown suite {printable(name)!r}; known: "
                         f"{', '.join(suite_names())}")
    path = CONFIGS_DIR / "suites" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs:
        raise UsageError(f"{path}: expected `runs:`, a non-empty list")
    return Suite(str(data.get("name", name)), str(data.get("description", "")),
                 tuple(_run(r, f"{path} run {i + 1}") for i, r in enumerate(runs)))
