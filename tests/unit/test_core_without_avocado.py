"""The core never needs avocado: with avocado unimportable, every command still loads and
`validate` and `run --help` work. The avocado front end is an adapter on top, nothing more."""

from __future__ import annotations

import subprocess
import sys

from harness.paths import PROJECT_ROOT, SCENARIOS_DIR

BLOCK_AVOCADO = """
import importlib.abc, sys

class NoAvocado(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "avocado" or name.startswith("avocado."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, NoAvocado())
import pkgutil, importlib, harness
for module in pkgutil.walk_packages(harness.__path__, "harness."):
    if not module.name.startswith("harness.avocado_plugins"):
        importlib.import_module(module.name)
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_without_avocado(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_AVOCADO, *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_core_module_and_command_works_without_avocado() -> None:
    proc = run_without_avocado("validate", str(SCENARIOS_DIR))
    assert proc.returncode == 0, proc.stderr
    proc = run_without_avocado("run", "--help")
    assert proc.returncode == 0 and "--html" in proc.stdout, proc.stderr
