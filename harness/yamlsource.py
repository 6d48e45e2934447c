"""YAML loading that remembers where each value came from.

``yaml.safe_load`` forgets line numbers, and every error about a scenario must say
``file:line``. This loader is ``SafeLoader`` (same tags, same types) whose mappings and
sequences also carry the line of each entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from harness.errors import Located, UsageError


class LocatedDict(dict[Any, Any]):
    """A mapping plus the 1-based line of itself and of each key (0: not from a file)."""

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class LocatedList(list[Any]):
    """A sequence plus the 1-based line of itself and of each item (0: not from a file)."""

    def __init__(self, items: Iterable[Any] = (), line: int = 0,
                 item_lines: list[int] | None = None) -> None:
        super().__init__(items)
        self.line = line
        self.item_lines = item_lines if item_lines is not None else [0] * len(self)


class _LocatingLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LocatingLoader, node: MappingNode) -> LocatedDict:
    result = LocatedDict(node.start_mark.line + 1)
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result.key_lines:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LocatingLoader, node: SequenceNode) -> LocatedList:
    return LocatedList(
        (loader.construct_object(child, deep=True) for child in node.value),
        line=node.start_mark.line + 1,
        item_lines=[child.start_mark.line + 1 for child in node.value],
    )


def _construct_mapping_any(loader: yaml.SafeLoader, node: Node) -> LocatedDict:
    assert isinstance(loader, _LocatingLoader) and isinstance(node, MappingNode)
    return _construct_mapping(loader, node)


def _construct_sequence_any(loader: yaml.SafeLoader, node: Node) -> LocatedList:
    assert isinstance(loader, _LocatingLoader) and isinstance(node, SequenceNode)
    return _construct_sequence(loader, node)


_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                _construct_mapping_any)
_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                                _construct_sequence_any)


def load_located(path: Path) -> Any:
    """Parse one YAML document; a syntax error becomes a located ``UsageError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(str(exc), (Located(path, None, f"cannot read: {exc}"),)) from exc
    try:
        return yaml.load(text, Loader=_LocatingLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        # Where the broken construct started (an opening quote, a bracket) is where the
        # author has to look; where the parser noticed is often the end of the file.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{exc.context}, {what}"
        if exc.context_mark and exc.problem_mark and exc.problem_mark.line != exc.context_mark.line:
            what += f" (noticed at line {exc.problem_mark.line + 1})"
        problem = Located(path, line, f"invalid YAML: {what}")
        raise UsageError(str(problem), (problem,)) from exc
    except yaml.YAMLError as exc:
        problem = Located(path, None, f"invalid YAML: {exc}")
        raise UsageError(str(problem), (problem,)) from exc
