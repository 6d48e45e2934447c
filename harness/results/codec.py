"""``results.json``: results written whole, read back with every problem located.

The layout is ``{"meta": {...}, "summary": "verdict: ...", "results": [CaseResult.to_json()
...]}``. ``load_results`` reads the files of a sharded run and merges them: the shards of
one matrix never share a case, so a case that appears twice with different contents is an
error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomicfile import write_atomically
from harness.errors import Located, UsageError
from harness.inputfile import read_json
from harness.located import LocatedReader
from harness.results.classes import ErrorClass, Outcome, class_problem
from harness.results.model import CaseResult, Check, FinalApiVerdict, summary_line

_OUTCOMES = {o.value: o for o in Outcome}
_ERROR_CLASSES = {c.value: c for c in ErrorClass}
# The nightly matrix (176 cases) writes about 300 KB; a results file past 64 MiB is not one.
MAX_RESULTS_BYTES = 64 << 20


def result_from_json(data: object, source: Path | str = "<results>",
                     where: str = "result") -> CaseResult:
    """A result from one entry of ``results``; every problem found is reported, each
    located as ``source: where.key: what is wrong``."""
    reader = _Reader(Path(source), where=where)
    result = reader.record(data)
    if result is None:
        raise UsageError(f"{source}: malformed results", tuple(reader.problems))
    return result


@dataclass
class _Reader(LocatedReader):
    """The located reader on one JSON entry (JSON has no lines: ``where`` says which
    entry): checks its types, collecting every problem instead of stopping."""

    where: str = "result"

    def problem(self, message: str) -> None:
        self.fail(None, f"{self.where}: {message}")

    def record(self, data: object) -> CaseResult | None:
        if not isinstance(data, dict):
            self.problem(f"expected an object, not {_kind(data)}")
            return None
        if isinstance(data.get("name"), str):
            self.where += f" ({data['name']})"
        before = len(self.problems)
        outcome = self.outcome(data.get("result"), "result")
        error_class = self.error_class(data.get("error_class"))
        if len(self.problems) == before:
            # The invariant a result is made with holds for one read back: a FAIL marked
            # "infrastructure", or an error with no class, is not a result this harness
            # wrote.
            problem = class_problem(outcome, error_class)
            if problem is not None:
                self.problem(f"'error_class': {problem}")
        identity = {key: self.text(data, key)
                    for key in ("name", "scenario", "machine", "kernel", "mode")}
        reason, kernel_version = self.text(data, "reason"), self.text(data, "kernel_version")
        seconds = self.number(data, "seconds")
        artefacts, bundle = (self.optional_text(data, "artefacts"),
                             self.optional_text(data, "bundle"))
        checks, tags = self.checks(data.get("checks", [])), self.tags(data.get("tags", []))
        revision = self.optional_text(data, "kernel_revision")
        final_api = self.final_api(data.get("final_api"))
        checks_off = self.optional_text(data, "l1_checks_off") or ""
        if len(self.problems) != before:
            return None
        return CaseResult(name=identity["name"], scenario=identity["scenario"],
                          machine=identity["machine"], kernel=identity["kernel"],
                          mode=identity["mode"], outcome=outcome, reason=reason,
                          kernel_version=kernel_version, seconds=seconds, artefacts=artefacts,
                          checks=checks, tags=tags, bundle=bundle, kernel_revision=revision,
                          final_api=final_api, error_class=error_class,
                          l1_checks_off=checks_off)

    def final_api(self, value: object) -> FinalApiVerdict | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(f"'final_api' must be an object, not {_kind(value)}")
            return None
        differs = value.get("differs", [])
        if not isinstance(differs, list) or not all(isinstance(d, str) for d in differs):
            self.problem("'final_api.differs' must be a list of check names")
            differs = []
        return FinalApiVerdict(self.text(value, "revision"),
                        self.outcome(value.get("result"), "final_api.result"),
                        self.text(value, "reason"), tuple(differs))

    def error_class(self, value: object) -> ErrorClass | None:
        if value is None:
            return None
        if isinstance(value, str) and value in _ERROR_CLASSES:
            return _ERROR_CLASSES[value]
        self.problem(f"'error_class' must be one of {', '.join(_ERROR_CLASSES)}, not "
                     f"{value!r}")
        return None

    def text(self, data: Mapping[str, Any], key: str) -> str:
        value = data.get(key)
        if isinstance(value, str):
            return value
        self.problem(f"{key!r} must be a string, not {_kind(value)}")
        return ""

    def optional_text(self, data: Mapping[str, Any], key: str) -> str | None:
        value = data.get(key)
        if value is None or isinstance(value, str):
            return value
        self.problem(f"{key!r} must be a string or null, not {_kind(value)}")
        return None

    def number(self, data: Mapping[str, Any], key: str) -> float:
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        self.problem(f"{key!r} must be a number, not {_kind(value)}")
        return 0.0

    def outcome(self, value: object, key: str) -> Outcome:
        if isinstance(value, str) and value in _OUTCOMES:
            return _OUTCOMES[value]
        self.problem(f"{key!r} must be one of {', '.join(_OUTCOMES)}, not {value!r}")
        return Outcome.ERROR

    def tags(self, value: object) -> tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return tuple(value)
        self.problem(f"'tags' must be a list of strings, not {_kind(value)}")
        return ()

    def checks(self, value: object) -> tuple[Check, ...]:
        if not isinstance(value, list):
            self.problem(f"'checks' must be a list, not {_kind(value)}")
            return ()
        return tuple(c for i, item in enumerate(value)
                     if (c := self.check(item, i)) is not None)

    def check(self, item: object, index: int) -> Check | None:
        if not isinstance(item, dict):
            self.problem(f"checks[{index}] must be an object, not {_kind(item)}")
            return None
        values = {}
        for key in ("name", "expected", "observed", "source"):
            value = item.get(key)
            if not isinstance(value, str):
                self.problem(f"checks[{index}].{key} must be a string, not {_kind(value)}")
            values[key] = str(value)
        outcome = self.outcome(item.get("result"), f"checks[{index}].result")
        return Check(values["name"], values["expected"], values["observed"], outcome,
                     values["source"])


def _kind(value: object) -> str:
    if value is None:
        return "null (or missing)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _read_file(path: Path, problems: list[Located]) -> tuple[list[CaseResult], dict[str, Any]]:
    """The records and meta of one results file; problems are collected, not raised."""
    try:
        data = read_json(path, MAX_RESULTS_BYTES, "results file")
    except UsageError as exc:
        problems.extend(exc.problems)
        return [], {}
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        problems.append(Located(path, None, "not a pmu-harness results file (expected an "
                                "object with a 'results' list, as `run --json` writes)"))
        return [], {}
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        problems.append(Located(path, None, f"'meta' must be an object, not {_kind(meta)}"))
        meta = {}
    records = []
    for index, entry in enumerate(data["results"]):
        reader = _Reader(path, where=f"results[{index}]")
        record = reader.record(entry)
        problems += reader.problems
        if record is not None:
            records.append(record)
    return records, meta


def load_results(paths: Sequence[Path]) -> tuple[list[CaseResult], list[dict[str, Any]]]:
    """The records of every file, merged, and each file's meta (in the order given).

    Shards of one matrix are disjoint: a name that appears in two files (or twice in one)
    is a ``UsageError`` unless both entries are identical. Every problem of every file is
    reported at once.
    """
    problems: list[Located] = []
    merged: dict[str, tuple[CaseResult, Path]] = {}
    metas = []
    for path in paths:
        records, meta = _read_file(path, problems)
        metas.append(meta)
        for record in records:
            seen = merged.get(record.name)
            if seen is None:
                merged[record.name] = (record, path)
            elif seen[0] != record:
                problems.append(Located(path, None, (
                    f"{record.name} is also in {seen[1]}, with a different result; shards "
                    "must not overlap (was the same shard given twice from two runs?)")))
    if problems:
        raise UsageError("malformed or overlapping results", tuple(problems))
    return [record for record, _ in merged.values()], metas


def write_results_json(results: Sequence[CaseResult], path: Path,
                       meta: Mapping[str, Any]) -> None:
    """The ``results.json`` layout (meta, summary line, results), written atomically; the
    same from a run that just finished and from records read back (merged shards)."""
    data = {"meta": dict(meta), "summary": summary_line(results),
            "results": [r.to_json() for r in results]}
    write_atomically(path, json.dumps(data, indent=2) + "\n")
