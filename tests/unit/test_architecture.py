"""The import direction of ``harness`` (docs/architecture.rst): every module sits in one
room, every room on one floor, and an import may only go down (or sideways within its own
room). Read from the source with ``ast``, every import counted, the lazy ones inside
functions too; only imports for the type checker (``if TYPE_CHECKING:``) are left out,
because they never run.

A new module that no room holds fails here until it is given one: the map below is the
architecture, and a change to it is a change of design, made on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "harness"

# Floors, lowest first. A room is a module or a package (every module under it).
FLOORS: tuple[tuple[str, ...], ...] = (
    # plain helpers: no knowledge of PMUs, kernels or runs
    ("harness", "harness.errors", "harness.printable", "harness.paths", "harness.atomicfile",
     "harness.inputfile", "harness.yamlsource", "harness.located", "harness.shard",
     "harness.perfstat", "harness.status"),
    # registries: what configs/ holds, the modes, the PMCEID layout
    ("harness.catalog", "harness.modes", "harness.pmceid"),
    # the domain: events, kernel rules, scenarios, the result model
    ("harness.events", "harness.kernelrules", "harness.results"),
    ("harness.scenario", "harness.suite", "harness.observation", "harness.filterfile",
     "harness.health"),
    ("harness.oracle",),
    ("harness.verdict",),
    # the machinery: the local store (fetch, cache, locks), then kernels built here, then
    # image sets, L1 machines, L2 runners
    ("harness.store",),
    ("harness.kbuild",),
    ("harness.images", "harness.machine", "harness.l2"),
    # planning, then executing the plan
    ("harness.plan",),
    ("harness.bundle",),
    ("harness.execute",),
    ("harness.mutation", "harness.mutantscores", "harness.review"),
    # reports of results
    ("harness.reports",),
    # front ends
    ("harness.cliargs",),
    ("harness.commands", "harness.avocado_plugins"),
    ("harness.cli",),
)

# Rooms that may use only these rooms (and their own), whatever floor those are on.
ONLY = {
    # A report depends on the result model, never on how results were made.
    "harness.reports": ("harness.results", "harness.errors", "harness.atomicfile",
                        "harness.printable", "harness.modes"),
}
# Front ends never import one another: what they share lives below them.
APART = ("harness.commands", "harness.avocado_plugins")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    # "harness" is the package's face (harness/__init__.py) only: a module that no other
    # room holds must not fall into it.
    rooms = [room for floor in FLOORS for room in floor
             if module == room or (room != "harness" and module.startswith(room + "."))]
    if not rooms:
        raise LookupError(module)
    return max(rooms, key=len)


def _floor(room: str) -> int:
    return next(i for i, floor in enumerate(FLOORS) if room in floor)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) of every harness import that runs."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names
                        if a.name.split(".")[0] == "harness")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "harness":
            yield node.lineno, node.module
        stack.extend(ast.iter_child_nodes(node))


def _edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importing room, imported room) for every import between rooms."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _room(_module_name(path))
        for line, module in _imports(ast.parse(path.read_text(), str(path))):
            target = _room(module)
            if target != source:
                edges.append((str(path.relative_to(PACKAGE.parent)), line, source, target))
    return edges


def test_every_module_has_a_room() -> None:
    homeless = []
    for path in PACKAGE.rglob("*.py"):
        try:
            _room(_module_name(path))
        except LookupError:
            homeless.append(str(path))
    assert homeless == []


def test_imports_only_go_down() -> None:
    upward = [f"{file}:{line}: {source} imports {target}, a floor above it"
              for file, line, source, target in _edges()
              if _floor(target) > _floor(source)]
    assert upward == []


def test_rooms_on_one_floor_do_not_import_in_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for _, _, source, target in _edges():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a]
                     if _floor(a) == _floor(b) and reaches(b, a, {b}))
    assert circles == []


@pytest.mark.parametrize("room", sorted(ONLY))
def test_restricted_rooms_use_only_what_they_may(room: str) -> None:
    allowed = set(ONLY[room])
    bad = [f"{file}:{line}: {target}" for file, line, source, target in _edges()
           if source == room and target not in allowed]
    assert bad == []


def test_front_ends_do_not_import_each_other() -> None:
    crossing = [f"{file}:{line}: {source} imports {target}"
                for file, line, source, target in _edges()
                if source in APART and target in APART]
    within = []
    for path in sorted((PACKAGE / "commands").glob("*.py")):
        module = _module_name(path)
        within += [f"{path.name}:{line}: imports {target}"
                   for line, target in _imports(ast.parse(path.read_text()))
                   if target.startswith("harness.commands.") and target != module]
    assert crossing + within == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The checks above can fail: an import from the result model up into execution, and
    one hidden in a function body, are both found."""
    tree = ast.parse("import harness.errors\n"
                     "def f():\n    from harness.execute.pool import run_groups\n"
                     "if TYPE_CHECKING:\n    from harness.plan import Case\n")
    found = [module for _, module in _imports(tree)]
    assert found == ["harness.errors", "harness.execute.pool"] or \
        sorted(found) == ["harness.errors", "harness.execute.pool"]
    assert _floor(_room("harness.execute.pool")) > _floor(_room("harness.results.model"))
