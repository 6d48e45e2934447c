"""Find scenario files and load them all, reporting every problem of every file at once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.errors import Located, UsageError
from harness.paths import CONFIGS_DIR
from harness.scenario.model import Scenario
from harness.scenario.parse import parse_scenario

SUFFIXES = (".yaml", ".yml")


def profile_names(kind: str) -> frozenset[str]:
    """Names of the profiles in ``configs/<kind>/`` (file stems)."""
    folder = CONFIGS_DIR / kind
    return frozenset(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else frozenset()


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        elif path.exists():
            files.append(path)
        else:
            raise UsageError("", (Located(path, None, "no such file or directory"),))
    return files


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    """Every scenario under ``paths``; ``UsageError`` lists all problems of all files."""
    machines, kernels = profile_names("machines"), profile_names("kernels")
    scenarios: list[Scenario] = []
    problems: list[Located] = []
    for file in scenario_files(paths):
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
            problems.append(Located(scenario.path, None, f"id {scenario.id!r} is already used "
                                    f"by {first[scenario.id]}"))
        else:
            first.setdefault(scenario.id, scenario.path)
    return problems
