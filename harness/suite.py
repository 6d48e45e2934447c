"""Suites (configs/suites/*.yaml): named selections of scenarios x kernels x machines x modes.

Read with the located YAML reader, so every problem says ``file:line``. Names in a suite are
checked against the catalog and the mode registry by the planner, like the command line's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalog import SUITES
from harness.errors import Located, UsageError
from harness.located import LocatedReader
from harness.modes import DEFAULT_MODES
from harness.paths import PROJECT_ROOT
from harness.yamlsource import LocatedDict, load_located

RUN_KEYS = ("scenarios", "tags", "kernels", "machines", "modes")


@dataclass(frozen=True)
class SuiteRun:
    """One selection: the scenarios (files or directories) with all these tags, on every
    kernel x machine x mode given."""

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


def _line(doc: LocatedDict, key: str) -> int:
    return doc.key_lines.get(key, doc.line)


def _run(r: LocatedReader, raw: Any, line: int) -> SuiteRun:
    run = r.mapping(raw, line, "run", RUN_KEYS)

    def names(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        if key not in run:
            return default
        found: tuple[str, ...] = r.guarded((), r.string_list, run[key], _line(run, key), key)
        return found

    return SuiteRun(scenarios=tuple(PROJECT_ROOT / p for p in names("scenarios")),
                    tags=names("tags"), kernels=names("kernels"), machines=names("machines"),
                    modes=names("modes", DEFAULT_MODES))


def load_suite(name: str) -> Suite:
    # A name, never a path: `--suite ../../x` must not read any YAML file on the host.
    path = SUITES.path(name)
    doc = load_located(path)
    r = LocatedReader(path)
    if not isinstance(doc, LocatedDict):
        raise UsageError(f"bad suite {name}", (Located(path, 1, "expected a mapping with "
                                                                 "`runs:`"),))
    r.unknown_keys(doc, "suite", ("name", "description", "runs"))
    runs = r.guarded([], r.each, doc.get("runs"), _line(doc, "runs"), "runs",
                     lambda raw, line: _run(r, raw, line))
    if not runs and not r.problems:
        r.fail(_line(doc, "runs"), "runs: expected a non-empty list")
    if r.problems:
        raise UsageError(f"bad suite {name}", tuple(r.problems))
    return Suite(str(doc.get("name", name)), str(doc.get("description", "")), tuple(runs))
