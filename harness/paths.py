"""Where things live: the project's data, the cache, per-run directories."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.errors import InfraError

# The package is used from a checkout (pip install -e .): configs/ and guest-images/ sit
# beside it. PMU_HARNESS_ROOT lets an installed copy point at a checkout.
PROJECT_ROOT = Path(os.environ.get("PMU_HARNESS_ROOT", Path(__file__).resolve().parent.parent))
CONFIGS_DIR = PROJECT_ROOT / "configs"
GUEST_IMAGES_DIR = PROJECT_ROOT / "guest-images"
SCENARIOS_DIR = PROJECT_ROOT / "testcases" / "scenarios"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pmu-harness`` (default ``~/.cache/pmu-harness``), created on demand."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "pmu-harness"
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_root() -> Path:
    """Root of per-run artefact directories (``PMU_HARNESS_RESULTS`` or ./results)."""
    return Path(os.environ.get("PMU_HARNESS_RESULTS", Path.cwd() / "results"))


def new_run_dir(label: str) -> Path:
    """A fresh directory for one run; unique even when two runs start in the same second."""
    root = results_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            candidate = root / f"{stamp}-{label}-{os.getpid()}-{attempt}"
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
    except OSError as exc:
        # A full or read-only results filesystem: nothing was run, nothing about the kernel.
        raise InfraError(f"cannot create a run directory under {root}: {exc}") from exc
    raise InfraError(f"could not create a run directory under {root}")
