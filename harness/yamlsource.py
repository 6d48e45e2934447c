"""YAML loading that remembers where each value came from.

``yaml.safe_load`` forgets line numbers, and every error about a scenario must say
``file:line``. This loader is ``SafeLoader`` (same tags, same types) whose mappings and
sequences also carry the line of each entry.

Whatever the file holds, loading it either gives a document or raises a ``UsageError``
whose problems say ``file:line``: size, nesting, alias expansion and number length are
bounded (limits below), and lines are counted the way an editor counts them.
"""

from __future__ import annotations

import bisect
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.scanner import ScannerError

from harness.errors import Located, UsageError
from harness.inputfile import read_bounded


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


# -- limits ---------------------------------------------------------------------------------
# A scenario is a page of YAML. These limits sit far above any real input and far below
# what exhausts the host: every refusal is a located usage error, never a traceback.

# The largest shipped scenario is about 2 KB; 1 MiB leaves room for generated ones and
# keeps parsing well under a second.
MAX_INPUT_BYTES = 1 << 20
# Scenarios nest four levels (filters > entry > raw > base). PyYAML composes and constructs
# recursively, several Python frames per level: 32 levels stay far from the interpreter's
# recursion limit (1000) however the document is built, aliases included.
MAX_NESTING = 32
# Values (nodes) in a document, counted as it is composed and again with every alias
# expanded: a "billion laughs" document is a few hundred bytes that expand to millions of
# values, and all of it is walked again for every message. The largest shipped scenario
# has about 60.
MAX_NODES = 10_000
# Characters in one YAML integer. Every number a scenario holds fits in 64 bits (at most
# 66 characters as 0b...); Python refuses to convert decimals past 4300 digits.
MAX_NUMBER_CHARS = 80

_Constructor = Callable[[yaml.SafeLoader, Node], Any]
_INT_TAG = "tag:yaml.org,2002:int"
_YAML11_OCTAL = re.compile(r"[-+]?0[0-7_]+")
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Lone surrogates are what `surrogateescape` makes of bytes that are not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


class _Lines:
    """Line numbers as editors and ``grep -n`` count them: newlines only.

    YAML also breaks lines at NEL, U+2028 and U+2029, so its own marks drift from what the
    author sees; a mark's character index does not.
    """

    def __init__(self, text: str) -> None:
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def at(self, index: int) -> int:
        return bisect.bisect_left(self._newlines, index) + 1

    def of(self, mark: Mark | None) -> int | None:
        return self.at(mark.index) if mark is not None else None


class _LocatingLoader(yaml.SafeLoader):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines = _Lines(text)
        self._depth = 0
        self._nodes = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # The scanner keeps a pending simple key per open bracket and rescans all of them
        # for every token: a megabyte of "[" would take hours, long before the composer
        # below gets to refuse the depth.
        if self.flow_level >= MAX_NESTING:
            raise ScannerError(None, None, f"brackets nested more than {MAX_NESTING} deep",
                               self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        # PyYAML composes recursively: refuse deep nesting before the stack runs out, and
        # a huge document before it is all in memory.
        self._depth += 1
        self._nodes += 1
        try:
            if parent is not None and self._depth > MAX_NESTING:
                raise ComposerError(None, None, f"nested more than {MAX_NESTING} levels deep",
                                    parent.start_mark)
            if parent is not None and self._nodes > MAX_NODES:
                raise ComposerError(None, None, f"more than {MAX_NODES} values",
                                    parent.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    return []


@dataclass
class _Extent:
    """Measures the document as construction would expand it, before constructing it:
    composing shares an aliased node, constructing (and every later walk) repeats it."""

    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> nodes, height

    def measure(self, node: Node, level: int = 1) -> tuple[int, int]:
        known = self.sizes.get(id(node))
        if known == _MEASURING:
            raise ConstructorError(None, None, "an alias refers to a node that contains it",
                                   node.start_mark)
        if known is None:
            self.sizes[id(node)] = _MEASURING
            known = self._walk(node, level)
            self.sizes[id(node)] = known
        if level + known[1] - 1 > MAX_NESTING:
            raise _too_deep(node)
        return known

    def _walk(self, node: Node, level: int) -> tuple[int, int]:
        if level > MAX_NESTING:
            raise _too_deep(node)
        nodes, height = 1, 1
        for child in _children(node):
            child_nodes, child_height = self.measure(child, level + 1)
            nodes += child_nodes
            height = max(height, child_height + 1)
            if nodes > MAX_NODES:
                raise ConstructorError(None, None, f"more than {MAX_NODES} values once "
                                       "aliases are expanded (an alias bomb?)", node.start_mark)
        return nodes, height


_MEASURING = (0, 0)


def _too_deep(node: Node) -> ConstructorError:
    return ConstructorError(None, None, f"nested more than {MAX_NESTING} levels deep once "
                            "aliases are expanded", node.start_mark)


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _construct_mapping(loader: _LocatingLoader, node: MappingNode) -> LocatedDict:
    result = LocatedDict(loader.lines.at(node.start_mark.index))
    explicit = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
    loader.flatten_mapping(node)
    seen_explicit: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not _hashable(key):
            raise ConstructorError(None, None, "a mapping key must be a plain value (a word "
                                   "or a number), not a list or mapping", key_node.start_mark)
        if id(key_node) in explicit:
            # `<<: *base` then `key: ...` overrides the merged key: only a key written twice
            # in the same mapping is a mistake.
            if key in seen_explicit:
                raise ConstructorError(None, None, f"duplicate key {shown(key)}",
                                       key_node.start_mark)
            seen_explicit.add(key)
        elif key in result.key_lines:
            continue  # of several merged mappings, the first one to give a key wins
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = loader.lines.at(key_node.start_mark.index)
    return result


def _construct_sequence(loader: _LocatingLoader, node: SequenceNode) -> LocatedList:
    return LocatedList(
        (loader.construct_object(child, deep=True) for child in node.value),
        line=loader.lines.at(node.start_mark.index),
        item_lines=[loader.lines.at(child.start_mark.index) for child in node.value],
    )


def _wrong_node(node: Node, expected: str) -> ConstructorError:
    # An explicit tag on the wrong kind of node: `!!map [1]`, `!!int {a: 1}`.
    found = ("a mapping" if isinstance(node, MappingNode)
             else "a sequence" if isinstance(node, SequenceNode) else "a scalar")
    return ConstructorError(None, None, f"expected {expected}, but found {found}",
                            node.start_mark)


def _construct_mapping_any(loader: yaml.SafeLoader, node: Node) -> LocatedDict:
    assert isinstance(loader, _LocatingLoader)
    if not isinstance(node, MappingNode):
        raise _wrong_node(node, "a mapping")
    return _construct_mapping(loader, node)


def _construct_sequence_any(loader: yaml.SafeLoader, node: Node) -> LocatedList:
    assert isinstance(loader, _LocatingLoader)
    if not isinstance(node, SequenceNode):
        raise _wrong_node(node, "a sequence")
    return _construct_sequence(loader, node)


def _construct_int(loader: yaml.SafeLoader, node: Node) -> int | str:
    """An integer, or its text when it is too long to convert (Python refuses decimals past
    4300 digits; no value of a scenario needs more than 64 bits) or is YAML 1.1 octal (an
    unquoted 010 is 8, which nobody writing an event number means). Kept as text, it is
    reported where it is by whoever expected a number, and the rest of the file is read."""
    if not isinstance(node, ScalarNode):
        raise _wrong_node(node, "a number")
    if len(node.value) > MAX_NUMBER_CHARS or _YAML11_OCTAL.fullmatch(node.value):
        return str(node.value)
    return loader.construct_yaml_int(node)


def _located(construct: _Constructor) -> _Constructor:
    """``construct`` with its Python errors turned into located YAML errors: PyYAML's own
    constructors let ``!!int x``, ``!!bool maybe`` or the date ``2001-13-45`` escape as
    ValueError or KeyError, without a line."""
    def checked(loader: yaml.SafeLoader, node: Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError,
                AttributeError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"not a valid {kind}: {shown(node.value)} "
                                   f"({type(exc).__name__})", node.start_mark) from exc
    return checked


# Generator constructors (collections) report their own errors; the scalar ones do not.
for _tag, _construct in list(yaml.SafeLoader.yaml_constructors.items()):
    if not inspect.isgeneratorfunction(_construct):
        _LocatingLoader.add_constructor(_tag, _located(_construct))
_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                _construct_mapping_any)
_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                                _construct_sequence_any)
_LocatingLoader.add_constructor(_INT_TAG, _located(_construct_int))


def shown(value: Any, limit: int = 60) -> str:
    """``repr`` for messages, cut short: a value can be megabytes long."""
    # A list or mapping is named as the user wrote it, never by our own type's name.
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a mapping"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- reading ------------------------------------------------------------------------------


def _usage(problems: list[Located]) -> UsageError:
    return UsageError("\n".join(str(p) for p in problems), tuple(problems))


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text with nothing YAML refuses; else every offending line, located."""
    text = data.decode("utf-8", errors="surrogateescape")
    lines = _Lines(text)
    problems = [Located(path, lines.at(m.start()),
                        f"not UTF-8: byte 0x{ord(m.group()) - 0xDC00:02x}")
                for m in _NOT_UTF8.finditer(text)]
    if not problems:
        problems = [Located(path, lines.at(m.start()),
                            f"control character U+{ord(m.group()):04X} is not allowed "
                            "(write it as an escape inside double quotes)")
                    for m in yaml.reader.Reader.NON_PRINTABLE.finditer(text)]
    if problems:
        # One per line: a binary file must not print a problem per byte.
        by_line = {p.line: p for p in reversed(problems)}
        raise _usage(sorted(by_line.values(), key=lambda p: p.line or 0))
    return text


def _located_yaml_error(path: Path, lines: _Lines, exc: yaml.YAMLError) -> Located:
    if isinstance(exc, yaml.MarkedYAMLError):
        # Where the broken construct started (an opening quote, a bracket) is where the
        # author has to look; where the parser noticed is often the end of the file.
        mark = exc.context_mark or exc.problem_mark
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{exc.context}, {what}"
        noticed, started = lines.of(exc.problem_mark), lines.of(exc.context_mark)
        if started is not None and noticed is not None and noticed != started:
            what += f" (noticed at line {noticed})"
        return Located(path, lines.of(mark), f"invalid YAML: {what}")
    if isinstance(exc, yaml.reader.ReaderError):
        return Located(path, lines.at(exc.position), f"invalid YAML: {exc.reason}")
    return Located(path, None, f"invalid YAML: {exc}")


def _parse(text: str) -> Any:
    loader = _LocatingLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Extent().measure(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_located(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """Parse one YAML document; every way it can be wrong is a located ``UsageError``."""
    text = _decode(path, read_bounded(path, max_bytes, "YAML file"))
    try:
        return _parse(text)
    except yaml.YAMLError as exc:
        raise _usage([_located_yaml_error(path, _Lines(text), exc)]) from exc
