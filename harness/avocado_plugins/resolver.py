"""Resolve a scenario file into avocado runnables: one per applicable case of the matrix.

avocado walks directory references itself and hands each file to the resolvers, so this sees
one file at a time. Not YAML: NOTFOUND, for the other resolvers. YAML that is not a valid
scenario: ERROR, with every ``file:line: problem`` (also logged as a warning, because avocado
drops a failed file of a directory reference without a word).
"""

from __future__ import annotations

from pathlib import Path

from avocado.core.nrunner.runnable import Runnable
from avocado.core.output import LOG_UI
from avocado.core.plugin_interfaces import Resolver
from avocado.core.resolver import ReferenceResolution, ReferenceResolutionResult

from harness.avocado_plugins import KIND
from harness.avocado_plugins.matrix import (
    Matrix,
    cases,
    is_scenario_file,
    scenario_reference,
    tags,
)
from harness.avocado_plugins.options import matrix_from_config
from harness.errors import UsageError
from harness.plan import Case
from harness.scenario.discover import SUFFIXES, load_scenarios


def runnable(case: Case, matrix: Matrix) -> Runnable:
    """The runnable of one case; its identifier is the case name the native CLI uses."""
    return Runnable(KIND, str(case.scenario.path.resolve()), identifier=case.name,
                    tags=tags(case), scenario=case.scenario.id, machine=case.machine,
                    kernel=case.kernel, mode=case.mode, timeout=matrix.timeout_for(case.mode),
                    **scenario_reference(case.scenario.path))


def _problems(exc: UsageError) -> str:
    return "\n".join(str(p) for p in exc.problems) if exc.problems else str(exc)


_warned: set[str] = set()


def _error(reference: str, info: str, warning: str) -> ReferenceResolution:
    # A wrong matrix option fails every file the same way: each warning is given once.
    if warning not in _warned:
        _warned.add(warning)
        LOG_UI.warning("pmu-harness: %s", warning)
    return ReferenceResolution(reference, ReferenceResolutionResult.ERROR, info=info)


class ScenarioResolver(Resolver):
    name = KIND
    description = "pmu-harness scenario files (YAML) x kernels x machines x modes"

    def resolve(self, reference: str) -> ReferenceResolution:
        path = Path(reference)
        if not is_scenario_file(path):
            return ReferenceResolution(
                reference, ReferenceResolutionResult.NOTFOUND,
                info=f"not a pmu-harness scenario file ({' or '.join(SUFFIXES)})")
        matrix = matrix_from_config(self.config)
        try:
            matrix.check()
        except UsageError as exc:
            return _error(reference, str(exc), f"{exc} (pmu_harness settings, --pmu-* options)")
        try:
            scenarios = load_scenarios([path])
        except UsageError as exc:
            info = _problems(exc)
            return _error(reference, info, f"{reference} is not a valid scenario:\n{info}")
        found = [runnable(case, matrix) for case in cases(scenarios, matrix)]
        if not found:
            return ReferenceResolution(
                reference, ReferenceResolutionResult.NOTFOUND,
                info=(f"no case of {', '.join(s.id for s in scenarios)} applies to kernels "
                      f"{', '.join(matrix.kernels)} x machines {', '.join(matrix.machines)} x "
                      f"modes {', '.join(matrix.modes)}"))
        return ReferenceResolution(reference, ReferenceResolutionResult.SUCCESS, found)
