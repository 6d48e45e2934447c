"""Results as data: one ``ResultRecord`` per case, read back from ``results.json`` files.

A record mirrors what ``CaseResult.to_json()`` writes, so every report (table, KTAP, JUnit,
HTML, merged JSON) can be produced from a run that just finished or from the JSON files of
one or more earlier runs. ``load_results`` reads the files of a sharded run and merges them:
the shards of one matrix never share a case, so a case that appears twice with different
contents is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomicfile import write_atomically
from harness.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK, Located, UsageError
from harness.inputfile import read_json
from harness.report import summary_line
from harness.verdict import NEEDS_A_LOOK, Check, FinalApiVerdict, Outcome

if TYPE_CHECKING:
    from harness.runner import CaseResult

CheckRecord = Check
"""A check as recorded: name, expected, observed, outcome, source (``Check`` itself)."""

_OUTCOMES = {o.value: o for o in Outcome}
# The nightly matrix (176 cases) writes about 300 KB; a results file past 64 MiB is not one.
MAX_RESULTS_BYTES = 64 << 20


@dataclass(frozen=True)
class ResultRecord:
    """One case's result. ``outcome`` is the JSON key ``result``."""

    name: str
    scenario: str
    machine: str
    kernel: str
    mode: str
    outcome: Outcome
    reason: str
    kernel_version: str = ""
    seconds: float = 0.0
    artefacts: str | None = None
    checks: tuple[Check, ...] = ()
    tags: tuple[str, ...] = ()
    bundle: str | None = None
    kernel_revision: str | None = None
    final_api: FinalApiVerdict | None = None

    @classmethod
    def from_json(cls, data: object, source: Path | str = "<results>",
                  where: str = "result") -> ResultRecord:
        """A record from one entry of ``results``; every problem found is reported, each
        located as ``source: where.key: what is wrong``."""
        reader = _Reader(Path(source), where)
        record = reader.record(data)
        if record is None:
            raise UsageError(f"{source}: malformed results", tuple(reader.problems))
        return record

    @classmethod
    def from_case_result(cls, result: CaseResult) -> ResultRecord:
        """The record ``results.json`` would hold for this result (the same rounding)."""
        return cls.from_json(result.to_json(), f"<case {result.case.name}>")

    def to_json(self) -> dict[str, Any]:
        """The ``CaseResult.to_json()`` layout, plus ``tags`` and ``bundle``."""
        return {
            "name": self.name, "scenario": self.scenario, "machine": self.machine,
            "kernel": self.kernel, "mode": self.mode, "result": self.outcome.value,
            "reason": self.reason, "kernel_version": self.kernel_version,
            "seconds": self.seconds, "artefacts": self.artefacts,
            "checks": [{"name": c.name, "expected": c.expected, "observed": c.observed,
                        "result": c.outcome.value, "source": c.source} for c in self.checks],
            "tags": list(self.tags), "bundle": self.bundle,
            **({"kernel_revision": self.kernel_revision} if self.kernel_revision else {}),
            **({"final_api": self.final_api.to_json()} if self.final_api else {}),
        }


def as_records(results: Iterable[CaseResult | ResultRecord]) -> list[ResultRecord]:
    """Records for results of a run that just finished, or records as they are."""
    return [r if isinstance(r, ResultRecord) else ResultRecord.from_case_result(r)
            for r in results]


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """``pmu-harness run``'s rule: 1 if a check failed, else 125 if anything was an error or
    inconclusive (bisect must skip), else 0 (skips allowed)."""
    seen = set(outcomes)
    if Outcome.FAIL in seen:
        return EXIT_CHECK_FAILED
    if seen & {Outcome.ERROR, Outcome.INCONCLUSIVE}:
        return EXIT_INFRA
    return EXIT_OK


def exit_code_without_reports(code: int) -> int:
    """The exit code once a report could not be written: an infrastructure error (125),
    but never in place of a failed check (1), the verdict CI and bisect act on."""
    return code if code == EXIT_CHECK_FAILED else EXIT_INFRA


@dataclass
class _Reader:
    """Checks the types of one JSON entry, collecting every problem instead of stopping."""

    path: Path
    where: str
    problems: list[Located] = field(default_factory=list)

    def problem(self, message: str) -> None:
        self.problems.append(Located(self.path, None, f"{self.where}: {message}"))

    def record(self, data: object) -> ResultRecord | None:
        if not isinstance(data, dict):
            self.problem(f"expected an object, not {_kind(data)}")
            return None
        if isinstance(data.get("name"), str):
            self.where += f" ({data['name']})"
        before = len(self.problems)
        record = ResultRecord(
            name=self.text(data, "name"), scenario=self.text(data, "scenario"),
            machine=self.text(data, "machine"), kernel=self.text(data, "kernel"),
            mode=self.text(data, "mode"), outcome=self.outcome(data.get("result"), "result"),
            reason=self.text(data, "reason"), kernel_version=self.text(data, "kernel_version"),
            seconds=self.number(data, "seconds"),
            artefacts=self.optional_text(data, "artefacts"),
            checks=self.checks(data.get("checks", [])), tags=self.tags(data.get("tags", [])),
            bundle=self.optional_text(data, "bundle"),
            kernel_revision=self.optional_text(data, "kernel_revision"),
            final_api=self.final_api(data.get("final_api")))
        return record if len(self.problems) == before else None

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


def _read_file(path: Path, problems: list[Located]) -> tuple[list[ResultRecord], dict[str, Any]]:
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
        reader = _Reader(path, f"results[{index}]")
        record = reader.record(entry)
        problems += reader.problems
        if record is not None:
            records.append(record)
    return records, meta


def load_results(paths: Sequence[Path]) -> tuple[list[ResultRecord], list[dict[str, Any]]]:
    """The records of every file, merged, and each file's meta (in the order given).

    Shards of one matrix are disjoint: a name that appears in two files (or twice in one)
    is a ``UsageError`` unless both entries are identical. Every problem of every file is
    reported at once.
    """
    problems: list[Located] = []
    merged: dict[str, tuple[ResultRecord, Path]] = {}
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


def write_results_json(results: Sequence[CaseResult | ResultRecord], path: Path,
                       meta: Mapping[str, Any]) -> None:
    """The ``results.json`` layout (meta, summary line, results), written atomically; the
    same from a run that just finished and from records read back (merged shards)."""
    data = {"meta": dict(meta), "summary": summary_line(results),
            "results": [r.to_json() for r in results]}
    write_atomically(path, json.dumps(data, indent=2) + "\n")


def failure_pointers(records: Iterable[ResultRecord]) -> list[str]:
    """Where to look, for every case that needs a look."""
    return [f"{r.name}: {r.outcome.value}"
            + (f"; artefacts in {r.artefacts}" if r.artefacts else "")
            for r in records if r.outcome in NEEDS_A_LOOK]
