"""Find scenario files and load them all, reporting every problem of every file at once."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

from harness.catalog import KERNELS, MACHINES, unknown_name
from harness.errors import Located, UsageError
from harness.inputfile import why_unreadable
from harness.scenario.model import Scenario
from harness.scenario.parse import parse_scenario

SUFFIXES = (".yaml", ".yml")


def _files_of(path: Path, problems: list[Located]) -> list[Path]:
    """The scenario files ``path`` names: itself, or the *.yaml/*.yml files under it."""
    try:
        is_dir = stat.S_ISDIR(path.stat().st_mode)
    except OSError as exc:
        # A symlink loop is not "no such file": say which it is.
        problems.append(Located(path, None, why_unreadable(exc)))
        return []
    if not is_dir:
        return [path]  # whatever it is, reading it says what is wrong with it
    found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
    if not found:
        problems.append(Located(path, None, "no scenario files (*.yaml, *.yml) in this "
                                "directory"))
    return found


def with_tags(scenarios: Iterable[Scenario], tags: Iterable[str]) -> list[Scenario]:
    """The scenarios that carry every tag of ``tags``. A tag no scenario carries is a
    ``UsageError`` naming the known ones (a misspelt tag must not select nothing and
    look like success)."""
    scenarios, wanted = list(scenarios), list(tags)
    known = {t for s in scenarios for t in s.tags}
    unknown = [unknown_name("tag", t, known) for t in wanted if t not in known]
    if unknown:
        raise UsageError("; ".join(unknown))
    return [s for s in scenarios if set(wanted) <= set(s.tags)]


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    """Every scenario under ``paths``; ``UsageError`` lists all problems of all files."""
    machines, kernels = frozenset(MACHINES.names()), frozenset(KERNELS.names())
    scenarios: list[Scenario] = []
    problems: list[Located] = []
    for file in [file for path in paths for file in _files_of(path, problems)]:
        try:
            scenarios.append(parse_scenario(file, known_machines=machines,
                                            known_kernels=kernels))
        except UsageError as exc:
            problems.extend(exc.problems or (Located(file, None, str(exc)),))
    problems.extend(_duplicate_ids(scenarios))
    if problems:
        raise UsageError(f"{len(problems)} problem(s)", tuple(problems))
    return scenarios


def load_scenario(path: Path, scenario_id: str) -> Scenario:
    """The scenario ``scenario_id`` of one file (a bundle's copy, a test's file)."""
    for scenario in load_scenarios([path]):
        if scenario.id == scenario_id:
            return scenario
    raise UsageError(f"{path}: no scenario with id {scenario_id!r}")


def _duplicate_ids(scenarios: list[Scenario]) -> list[Located]:
    first: dict[str, Path] = {}
    problems = []
    for scenario in scenarios:
        if scenario.id in first:
            problems.append(Located(scenario.path, scenario.id_line or None,
                                    f"id {scenario.id!r} is already used by "
                                    f"{first[scenario.id]}"))
        else:
            first.setdefault(scenario.id, scenario.path)
    return problems
