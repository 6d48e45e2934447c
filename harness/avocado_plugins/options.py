"""The ``pmu_harness.*`` avocado settings and their ``--pmu-*`` options.

Settings (``avocado config``; a config file's ``[pmu_harness]`` section takes Python lists,
e.g. ``kernels = ['debian-6.1', 'debian-6.12']``):

``pmu_harness.kernels``, ``pmu_harness.machines``, ``pmu_harness.modes``
    the matrix every scenario runs on (defaults: ``pmu-harness run``'s);
``pmu_harness.timeout``
    seconds each test may take (default: 600 in probe mode, 1200 in linux mode).

``avocado run`` and ``avocado list`` take ``--pmu-kernel K``, ``--pmu-machine M``,
``--pmu-mode MODE`` (repeatable, or comma separated) and ``--pmu-timeout SECONDS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from avocado.core.plugin_interfaces import CLI, Init
from avocado.core.settings import settings

from harness.avocado_plugins import KIND
from harness.avocado_plugins.matrix import DEFAULT_TIMEOUTS, Matrix
from harness.cliargs import whole_number
from harness.modes import DEFAULT_MODES, MODES
from harness.plan import DEFAULT_KERNELS, DEFAULT_MACHINES

SECTION = "pmu_harness"
KERNELS = f"{SECTION}.kernels"
MACHINES = f"{SECTION}.machines"
MODES_KEY = f"{SECTION}.modes"
TIMEOUT = f"{SECTION}.timeout"

# (key, default, help, command line option, metavar)
_LISTS = (
    ("kernels", list(DEFAULT_KERNELS), "Kernel profiles (configs/kernels) to run every "
     "scenario on", "--pmu-kernel", "KERNEL"),
    ("machines", list(DEFAULT_MACHINES), "Machine profiles (configs/machines) to run every "
     "scenario on", "--pmu-machine", "MACHINE"),
    ("modes", list(DEFAULT_MODES), f"L2 modes ({', '.join(MODES)}) to run every scenario in",
     "--pmu-mode", "MODE"),
)
_TIMEOUT_HELP = ("Seconds each pmu-harness test may take before it is stopped (its L1 shut "
                 "down) and reported as interrupted; default " +
                 ", ".join(f"{s} in {m} mode" for m, s in DEFAULT_TIMEOUTS.items()))


class PmuHarnessInit(Init):
    name = KIND
    description = "pmu-harness scenario settings (kernels, machines, modes, timeout)"

    def initialize(self) -> None:
        for key, default, help_msg, _, _ in _LISTS:
            settings.register_option(section=SECTION, key=key, default=default,
                                     key_type=list, help_msg=help_msg)
        settings.register_option(section=SECTION, key="timeout", default=None, key_type=int,
                                 help_msg=_TIMEOUT_HELP)


class PmuHarnessCLI(CLI):
    name = KIND
    description = "pmu-harness options for 'run' and 'list'"

    def configure(self, parser: Any) -> None:
        for command in ("run", "list"):
            subparser = parser.subcommands.choices.get(command)
            if subparser is None:
                continue
            group = subparser.add_argument_group("pmu-harness scenarios (YAML files)")
            for key, _, help_msg, long_arg, metavar in _LISTS:
                settings.add_argparser_to_option(
                    namespace=f"{SECTION}.{key}", parser=group, long_arg=long_arg,
                    metavar=metavar, action="append", allow_multiple=True,
                    help_msg=f"{help_msg} (repeatable, or comma separated)")
            settings.add_argparser_to_option(
                namespace=TIMEOUT, parser=group, long_arg="--pmu-timeout", metavar="SECONDS",
                allow_multiple=True, argparse_type=_seconds)

    def run(self, config: Any) -> None:
        return None


_seconds = whole_number(1, "seconds")


def _names(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    """A list setting as names: from the command line (appended, maybe comma separated), a
    config file (a Python list) or the default."""
    if value is None:
        return default
    items = [value] if isinstance(value, str) else list(value)
    names = [n.strip() for item in items for n in str(item).split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


def matrix_from_config(config: Mapping[str, Any]) -> Matrix:
    """The matrix a job's config chooses (unchecked: ``Matrix.check`` says what is wrong)."""
    timeout = config.get(TIMEOUT)
    return Matrix(kernels=_names(config.get(KERNELS), DEFAULT_KERNELS),
                  machines=_names(config.get(MACHINES), DEFAULT_MACHINES),
                  modes=_names(config.get(MODES_KEY), DEFAULT_MODES),
                  timeout=int(timeout) if timeout is not None else None)
