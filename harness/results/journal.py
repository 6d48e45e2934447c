"""The run's journal: every result appended as it arrives, so no verdict is ever lost.

``results.jsonl`` in the run directory, one JSON object a line, each written with one
``write`` and ``fsync``'d: what a SIGKILLed parent (or a full disk, or a cancelled CI job)
leaves behind is every result it had received. ``results.json`` and every report are made
from it (``report RUN_DIR`` does so for a run whose parent never got to), and
``run --resume RUN_DIR`` runs the cases it has no verdict for.

Lines:

- ``{"meta": {...}}``: the run's command line (``argv``, ``cwd``), for ``--resume``.
- ``{"planned": [result, ...]}``: every case the run will judge (and those it skips), each
  as a result of a case not run; a later line replaces it.
- ``{"result": result}``: one case's result, as ``results.json`` holds it.

A resumed run appends to the same journal; reading keeps the first plan of a case and the
last result of it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Located, UsageError
from harness.results.classes import NotRun
from harness.results.codec import MAX_RESULTS_BYTES, result_from_json
from harness.results.model import CaseResult, not_run

log = logging.getLogger(__name__)

JOURNAL_FILE = "results.jsonl"


class Journal:
    """Appends to a run's journal, and keeps what it appended in memory: a journal that
    cannot be written (a full disk) costs the run its journal, never its verdicts."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / JOURNAL_FILE
        self._results: dict[str, CaseResult] = {}
        self._broken = False
        if self.path.is_file():
            self._results = dict(read_journal(self.path).by_name)

    def meta(self, meta: Mapping[str, Any]) -> None:
        self._write({"meta": dict(meta)})

    def plan(self, cases: Iterable[CaseResult]) -> None:
        """Every case of the run, as not run until its result comes (a case with a result
        from an earlier, cut-off run keeps it)."""
        planned = [r for r in cases if r.name not in self._results]
        for result in planned:
            self._results[result.name] = result
        self._write({"planned": [r.to_json() for r in planned]})

    def append(self, result: CaseResult) -> None:
        self._results[result.name] = result
        self._write({"result": result.to_json()})

    def get(self, name: str) -> CaseResult | None:
        return self._results.get(name)

    def results(self) -> list[CaseResult]:
        """Every case planned or judged, in the order first planned."""
        return list(self._results.values())

    def _write(self, entry: Mapping[str, Any]) -> None:
        if self._broken:
            return
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # One write: a signal between two would leave half a line.
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._broken = True
            log.warning("pmu-harness: the journal %s cannot be written (%s); the results "
                        "are kept in memory for results.json", self.path, exc)


@dataclass
class JournalContents:
    """What a journal held: each case by name (planned, then as judged), and its meta. A
    case planned and never judged reads as not run because the run ended first: a parent
    still alive at the end writes each such case's own reason (interrupted, deadline,
    worker lost) as its result."""

    by_name: dict[str, CaseResult] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def results(self) -> list[CaseResult]:
        return list(self.by_name.values())


def planned(result: CaseResult) -> CaseResult:
    """A case's entry in the plan line: not run, until its result comes."""
    return not_run(result, NotRun.PARENT_KILLED)


def read_journal(path: Path) -> JournalContents:
    """A journal's contents; a last line cut short (the parent killed mid-write) is
    ignored, any other bad line is a located error."""
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES * 4:
            raise UsageError(f"{path}: too large for a journal")
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the journal: {exc.strerror}") from exc
    contents = JournalContents()
    problems: list[Located] = []
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            if number == len(lines):
                log.warning("%s:%d: a line cut short (the run was killed while writing it); "
                            "ignored", path, number)
                continue
            problems.append(Located(path, number, "not a JSON line of a pmu-harness journal"))
            continue
        _read_entry(entry, path, number, contents, problems)
    if problems:
        raise UsageError("malformed journal", tuple(problems))
    return contents


def _read_entry(entry: object, path: Path, number: int, contents: JournalContents,
                problems: list[Located]) -> None:
    where = f"{path}:{number}"
    try:
        if isinstance(entry, dict) and isinstance(entry.get("meta"), dict):
            contents.meta.update(entry["meta"])
        elif isinstance(entry, dict) and isinstance(entry.get("planned"), list):
            for index, item in enumerate(entry["planned"]):
                result = result_from_json(item, where, f"planned[{index}]")
                contents.by_name.setdefault(result.name, result)
        elif isinstance(entry, dict) and "result" in entry:
            result = result_from_json(entry["result"], where)
            contents.by_name[result.name] = result
        else:
            problems.append(Located(path, number, "expected a 'meta', 'planned' or 'result' "
                                                  "entry"))
    except UsageError as exc:
        problems.extend(exc.problems)
