"""What real runs killed: the measured half of the mutants catalog.

``kernel-patches/mutants/scores.yaml`` is written by ``pmu-harness mutants --record`` from a
mutants run's JSON (or at the end of ``mutants --all --record``), never by hand: for each
mutant and kernel, the run's verdict (killed, survived, errored), the cases that killed it,
the suite, and the run's date and directory. Recording a run replaces the records of the
mutants it ran, on the kernels it ran them on, and keeps every other record: a run of one
suite does not erase another's. ``mutants.yaml`` keeps what is written by hand (what each
mutant breaks, what a guest would see).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.atomicfile import write_atomically
from harness.catalog import unknown_name
from harness.errors import Located, UsageError
from harness.kbuild.series import PATCHES_DIR
from harness.located import LocatedReader
from harness.results.mutants import MutantStatus
from harness.yamlsource import LocatedDict, load_located

SCORES = PATCHES_DIR / "mutants" / "scores.yaml"
STATUSES = tuple(s.value for s in MutantStatus)
HEADER = """\
# Written by `pmu-harness mutants --record` from a real mutants run: never edit by hand.
# Per mutant and kernel, what the last recorded run gave: its status, the cases that killed
# it (scenario[machine,kernel,mode]), the suite, the run's date and directory.
"""
MAX_RUN_BYTES = 16 << 20  # a run's JSON: a few hundred KiB with every killing case named
SHOWN = 3  # killing cases `mutants --list` names before "+N more"
RECORD_KEYS = ("mutant", "kernel", "suite", "status", "date", "run_dir", "killed_by")


@dataclass(frozen=True)
class Score:
    mutant: str
    kernel: str
    suite: str
    status: str  # a MutantStatus value
    date: str
    run_dir: str
    killed_by: tuple[str, ...] = ()

    def to_yaml(self) -> dict[str, Any]:
        return {"mutant": self.mutant, "kernel": self.kernel, "suite": self.suite,
                "status": self.status, "date": self.date, "run_dir": self.run_dir,
                "killed_by": list(self.killed_by)}


class _RunReader:
    """A run's JSON, read with every problem named by where it is in the document."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.problems: list[Located] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Located(self.source, None, f"{where}: {message}"))

    def text(self, data: Mapping[str, Any], key: str, where: str,
             meta: Mapping[str, Any] | None = None) -> str:
        """``data[key]``; or, when ``data`` has none, ``meta[key]``."""
        value = data.get(key)
        if value is None and meta is not None:
            value = meta.get(key)
        if isinstance(value, str) and value:
            return value
        self.problem(f"{where}.{key}", f"expected a non-empty string, not {value!r:.60}")
        return ""

    def mutant(self, raw: object, where: str, meta: Mapping[str, Any],
               known: Sequence[str]) -> Score | None:
        if not isinstance(raw, dict):
            self.problem(where, "expected an object with name, status, killed_by")
            return None
        before = len(self.problems)
        name = self.text(raw, "name", where)
        if name and name not in known:
            self.problem(f"{where}.name", unknown_name("mutant", name, known))
        status = self.text(raw, "status", where)
        if status and status not in STATUSES:
            self.problem(f"{where}.status", f"expected one of {', '.join(STATUSES)}, not "
                                            f"{status!r:.40}")
        killed_by = raw.get("killed_by")
        if not isinstance(killed_by, list) or not all(isinstance(k, str) for k in killed_by):
            self.problem(f"{where}.killed_by", "expected a list of case names")
            killed_by = []
        if (status == MutantStatus.KILLED.value) != bool(killed_by):
            self.problem(f"{where}.killed_by", "a killed mutant names the cases that killed "
                                               "it, and only a killed one does")
        # A run of one suite (the format before `--all`) says its suite and kernel once.
        suite, kernel = self.text(raw, "suite", where, meta), self.text(raw, "kernel", where, meta)
        if len(self.problems) != before:
            return None
        return Score(name, kernel, suite, status, self.text(meta, "date", "meta"),
                     self.text(meta, "run_dir", "meta"), tuple(killed_by))


def scores_from_run(data: object, source: Path, known: Sequence[str]) -> list[Score]:
    """The records of a mutants run's JSON (``mutants --json``, or the run directory's
    ``mutants.json``); ``known``: the catalog's mutant names. Every problem is a usage
    error naming where it is."""
    reader = _RunReader(source)
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict) \
            or not isinstance(data.get("mutants"), list):
        raise UsageError(f"{source}: expected a mutants run's JSON (an object with 'meta' "
                         "and 'mutants'), as `pmu-harness mutants --json` writes it")
    meta: dict[str, Any] = data["meta"]
    found = [reader.mutant(raw, f"mutants[{i}]", meta, known)
             for i, raw in enumerate(data["mutants"])]
    if not found:
        reader.problem("mutants", "the run holds no mutant")
    if reader.problems:
        raise UsageError(f"bad mutants run {source}", tuple(reader.problems))
    return [s for s in found if s is not None]


def merged(old: Iterable[Score], new: Sequence[Score]) -> list[Score]:
    """The records after recording ``new``: each (mutant, kernel) of ``new`` replaces the
    old one in place; the others stay; new pairs come last, in the run's order."""
    fresh = {(s.mutant, s.kernel): s for s in new}
    kept = [fresh.pop((s.mutant, s.kernel), s) for s in old]
    return kept + [s for s in new if (s.mutant, s.kernel) in fresh]


def render_scores(scores: Sequence[Score]) -> str:
    body = yaml.safe_dump({"scores": [s.to_yaml() for s in scores]}, sort_keys=False,
                          width=100, allow_unicode=False, default_flow_style=False)
    return HEADER + body


def write_scores(scores: Sequence[Score], path: Path = SCORES) -> None:
    write_atomically(path, render_scores(scores))


def _score(r: LocatedReader, raw: object, line: int) -> Score:
    entry = r.mapping(raw, line, "score", RECORD_KEYS)

    def text(key: str) -> str:
        value: str = r.string(entry.get(key), entry.key_lines.get(key, line), key)
        return value

    status = text("status")
    if status not in STATUSES:
        raise r.fail(entry.key_lines.get("status", line),
                     f"status: expected one of {', '.join(STATUSES)}, not {status!r}")
    killed_by = r.string_list(entry.get("killed_by", []),
                              entry.key_lines.get("killed_by", line), "killed_by")
    return Score(text("mutant"), text("kernel"), text("suite"), status, text("date"),
                 text("run_dir"), killed_by)


def load_scores(path: Path = SCORES) -> list[Score]:
    """The recorded scores; none before the first ``--record``."""
    if not path.exists():
        return []
    doc = load_located(path)
    r = LocatedReader(path)
    if not isinstance(doc, LocatedDict):
        raise UsageError(f"{path}: expected a mapping with `scores:` (written by `pmu-harness "
                         "mutants --record`)")
    found = r.guarded([], r.each, doc.get("scores"), doc.key_lines.get("scores", doc.line),
                      "scores", lambda raw, line: _score(r, raw, line))
    if r.problems:
        raise UsageError(f"bad scores file {path}", tuple(r.problems))
    return list(found)


def _case_label(name: str) -> str:
    """``scenario[machine,kernel,mode]`` -> ``scenario[machine]``: the kernel is the
    record's, and the mode is probe but in linux suites."""
    scenario, _, rest = name.partition("[")
    parts = rest.rstrip("]").split(",")
    if len(parts) < 3:
        return name
    mode = "" if parts[2] == "probe" else f",{parts[2]}"
    return f"{scenario}[{parts[0]}{mode}]"


def describe(score: Score) -> str:
    """One line for ``mutants --list``."""
    when = f"(suite {score.suite}, run of {score.date})"
    if score.status != MutantStatus.KILLED.value:
        return f"{score.status} on {score.kernel} {when}"
    labels = list(dict.fromkeys(_case_label(n) for n in score.killed_by))
    more = len(labels) - SHOWN
    cases = ", ".join(labels[:SHOWN]) + (f" (+{more} more)" if more > 0 else "")
    return f"killed on {score.kernel} by {cases} {when}"
