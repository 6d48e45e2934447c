"""Per behaviour, what the series changes: against its base, against the documented API,
and against an earlier revision. Pure: judged cases in, behaviours out.

Two kernels are compared check by check (same scenario, machine, mode and check), each
check judged against the API: where one passes and the other fails, the failing side's
explanation (``judging``) names the behaviour that changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.kernelrules import all_rules
from harness.results import Outcome
from harness.review.judging import CaseJudgement, JudgedCheck, family, symptom
from harness.review.model import Behaviour, CaseRef, Difference

Key = tuple[str, str, str, str]  # scenario, machine, mode, check


@dataclass(frozen=True)
class JudgedCase:
    """A case of one kernel: its own run's verdict, and its observation judged against
    the API (None when there was nothing to judge: the case erred)."""

    scenario: str
    machine: str
    mode: str
    outcome: Outcome
    reason: str
    artefacts: str = ""
    judgement: CaseJudgement | None = None

    @property
    def name(self) -> str:
        return f"{self.scenario}[{self.machine},{self.mode}]"


def behaviour_id(judged: JudgedCheck) -> str:
    if judged.explained_by:
        return " or ".join(judged.explained_by)
    return f"family:{symptom(judged.check)[0]}"


def describe(behaviour: str, example: JudgedCheck | None = None) -> tuple[str, str]:
    """``(title, description)`` of a behaviour id (a family's from one of its checks)."""
    if behaviour.startswith("family:"):
        if example is None:
            return behaviour, behaviour
        return (symptom(example.check)[1],
                f"no single kernel rule explains it: {family(example.check.name)[1]}")
    rules = {r.id: r for r in all_rules()}
    chosen = [rules[i] for i in behaviour.split(" or ") if i in rules]
    return (" or ".join(r.title for r in chosen) or behaviour,
            " / ".join(f"{r.id}: {r.description}" for r in chosen))


def _checks(cases: Iterable[JudgedCase]) -> dict[Key, tuple[JudgedCase, JudgedCheck]]:
    found = {}
    for case in cases:
        if case.judgement is None:
            continue
        for judged in case.judgement.checks:
            key = (case.scenario, case.machine, case.mode, judged.check.name)
            found[key] = (case, judged)
    return found


def _ref(case: JudgedCase, judged: JudgedCheck, other: JudgedCheck | None = None
         ) -> CaseRef:
    check = judged.check
    return CaseRef(case.scenario, case.machine, case.mode, check.name, check.expected,
                   check.observed, case.artefacts,
                   other.check.observed if other is not None else "")


# A failing check of each behaviour met, for the behaviour's title (a family's names its
# symptom, which only a failing check shows).
Examples = dict[str, JudgedCheck]


def departures(cases: Sequence[JudgedCase], examples: Examples) -> dict[str, Difference]:
    """The series' checks that fail against the API, per behaviour."""
    grouped: dict[str, list[CaseRef]] = defaultdict(list)
    for case, judged in _checks(cases).values():
        if judged.check.outcome is Outcome.FAIL:
            behaviour = behaviour_id(judged)
            examples.setdefault(behaviour, judged)
            grouped[behaviour].append(_ref(case, judged))
    return {b: Difference("departs", tuple(refs)) for b, refs in grouped.items()}


def changes(series: Sequence[JudgedCase], other: Sequence[JudgedCase], examples: Examples
            ) -> dict[str, Difference]:
    """Per behaviour, how ``series`` differs from ``other`` (both judged against the API)."""
    mine, theirs = _checks(series), _checks(other)
    kinds: dict[str, set[str]] = defaultdict(set)
    refs: dict[str, list[CaseRef]] = defaultdict(list)
    for key in sorted(mine.keys() & theirs.keys()):
        (case, now), (_, before) = mine[key], theirs[key]
        was, now_ok = before.check.outcome, now.check.outcome
        if was is Outcome.FAIL and now_ok is Outcome.PASS:
            kind, cause = "adds", before
        elif was is Outcome.PASS and now_ok is Outcome.FAIL:
            kind, cause = "breaks", now
        elif was is now_ok is Outcome.FAIL and before.check.observed != now.check.observed:
            kind, cause = "changes", now
        else:
            continue
        behaviour = behaviour_id(cause)
        examples.setdefault(behaviour, cause)
        kinds[behaviour].add(kind)
        refs[behaviour].append(_ref(case, now, before))
    return {b: Difference(kinds[b].pop() if len(kinds[b]) == 1 else "changes",
                          tuple(refs[b])) for b in refs}


def behaviours(roles: Mapping[str, Sequence[JudgedCase]]) -> tuple[Behaviour, ...]:
    """Every behaviour in which the series differs from its base, the API or the earlier
    revision: rules in ``kernel-rules.yaml`` order, then check families."""
    series = roles["series"]
    examples: Examples = {}
    api = departures(series, examples)
    base = changes(series, roles["base"], examples) if "base" in roles else {}
    against = changes(series, roles["against"], examples) if "against" in roles else {}
    order = [r.id for r in all_rules()]
    found = sorted(api.keys() | base.keys() | against.keys(),
                   key=lambda b: (b.startswith("family:"),
                                  order.index(b.split(" or ")[0])
                                  if b.split(" or ")[0] in order else len(order), b))
    return tuple(Behaviour(b, *describe(b, examples.get(b)), vs_base=base.get(b),
                           vs_api=api.get(b),
                           vs_against=against.get(b)) for b in found)
