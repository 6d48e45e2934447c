"""Harness programs for L1 built from this checkout: ``pmu-probe`` and ``libpmufilter.so``.

Each is built by ``make -C guest-images/<dir> CROSS_COMPILE=aarch64-linux-gnu- O=<out>``
when its Makefile exists; the image set's cache key includes its sources' hashes. A tool
whose Makefile is absent is left out, and the manifest says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.paths import GUEST_IMAGES_DIR, PROJECT_ROOT
from harness.store import cache
from harness.store.locking import file_lock
from harness.store.run import run

SECTION = "tools"
CROSS_COMPILE = "aarch64-linux-gnu-"
MAKE_TIMEOUT = 900


@dataclass(frozen=True)
class Tool:
    name: str
    source: Path
    output: str        # file name make leaves in O=
    guest_path: str    # where it goes in L1
    shared: tuple[Path, ...] = ()  # other source directories its Makefile compiles from


# Golden outputs, host-side tests and docs do not change the binary: keep them out of the key
# so that adding a test file does not rebuild every image set.
NOT_INPUTS = frozenset({"testdata", "tests", "build", "README.rst", ".gitignore"})

TOOLS = (
    Tool("pmu-probe", GUEST_IMAGES_DIR / "probe", "pmu-probe", "opt/pmu-harness/bin/pmu-probe"),
    # The preload library compiles the probe's filter-file parser (filterfile.c/.h).
    Tool("libpmufilter", GUEST_IMAGES_DIR / "preload", "libpmufilter.so",
         "opt/pmu-harness/lib/libpmufilter.so", shared=(GUEST_IMAGES_DIR / "probe",)),
)


def _inputs(tool: Tool) -> dict[str, str]:
    hashes = cache.hash_paths([tool.source, *tool.shared], PROJECT_ROOT)
    return {path: digest for path, digest in hashes.items()
            if not NOT_INPUTS.intersection(Path(path).parts)}


@dataclass(frozen=True)
class ToolPlan:
    tool: Tool
    present: bool
    sources: dict[str, str]

    @property
    def key(self) -> str:
        return cache.digest({"name": self.tool.name, "sources": self.sources,
                             "cross": CROSS_COMPILE})


def plan_tools(tools: tuple[Tool, ...] = TOOLS) -> list[ToolPlan]:
    plans = []
    for tool in tools:
        present = (tool.source / "Makefile").is_file()
        sources = _inputs(tool) if present else {}
        plans.append(ToolPlan(tool=tool, present=present, sources=sources))
    return plans


def describe(plans: list[ToolPlan]) -> dict[str, Any]:
    """For the manifest (and the cache key): what was included, from which sources."""
    return {
        p.tool.name: {"included": p.present, "guest_path": "/" + p.tool.guest_path,
                      "sources_sha256": cache.digest(p.sources) if p.present else None,
                      **({} if p.present else {"reason": f"no {p.tool.source}/Makefile"})}
        for p in plans
    }


def build_tool(plan: ToolPlan) -> Path:
    """The built file (cached per source hash)."""
    final = cache.section_dir(SECTION) / f"{plan.tool.name}-{plan.key[:16]}"
    with file_lock(cache.lock_path(SECTION, final.name), what=plan.tool.name):
        if cache.read_manifest(final) is not None and not cache.verify_entry(final, quick=True):
            return final / plan.tool.output
        with cache.atomic_dir(final) as tmp:
            build = tmp / "build"
            build.mkdir()
            run(["make", "-C", plan.tool.source, f"CROSS_COMPILE={CROSS_COMPILE}", f"O={build}"],
                timeout=MAKE_TIMEOUT, what=f"building {plan.tool.name} ({plan.tool.source})")
            produced = build / plan.tool.output
            if not produced.is_file():
                found = sorted(build.rglob(plan.tool.output))
                if not found:
                    raise InfraError(f"make in {plan.tool.source} left no {plan.tool.output} "
                                     f"in O={build}")
                produced = found[0]
            produced.rename(tmp / plan.tool.output)
            cache.write_manifest(tmp, {"files": cache.describe_files(tmp, [plan.tool.output]),
                                       "sources": plan.sources})
        return final / plan.tool.output
