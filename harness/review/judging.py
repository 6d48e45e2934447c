"""One case's observation judged against the documented API of its tree's version, and,
for each check that fails, which kernel rules explain it.

A rule *explains* a failing check when the oracle, given the API's rules with that one rule
toggled (taken out if the API has it, put in if not), predicts what was observed for that
check without getting any other check of the case wrong that the API got right. That names
the behaviour a kernel departs in ("PMCEID masked by the filter") rather than the register
bit that showed it. A check no single rule explains is named by its family ("which events
the guest is told about").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from harness.kernelrules import KernelRules, KernelVersion, all_rules, rules_for
from harness.observation import Observation
from harness.oracle import PmuModel, predict
from harness.results import Check, Outcome
from harness.scenario.model import Expectations, Scenario
from harness.verdict import judge

# Check families, by how the verdict names a check (harness/verdict.py), most specific
# first: (name prefix, family id, what it is about).
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("errno of filter call", "filter-errno", "what FILTER calls answer"),
    ("errno of line", "set-pmu-errno", "what SET_PMU answers"),
    ("errno of init step", "init-errno", "what PMU INIT answers"),
    ("answer of HAS_DEVICE_ATTR", "has-attr", "whether KVM_HAS_DEVICE_ATTR reports FILTER"),
    ("KVM_HAS_DEVICE_ATTR", "has-attr", "whether KVM_HAS_DEVICE_ATTR reports FILTER"),
    ("errno of PMUVer write", "pmuver", "what writing the guest's PMUVer answers"),
    ("guest ID_AA64DFR0_EL1.PMUVer", "pmuver", "what writing the guest's PMUVer answers"),
    ("guest PMCEID", "pmceid", "which events the guest's PMCEID0/1 advertise"),
    ("PMCEID bit of", "pmceid", "which events the guest's PMCEID0/1 advertise"),
    ("guest sysfs event", "pmceid", "which events the guest's PMCEID0/1 advertise"),
    ("counter cycle_counter", "cycle-counter", "whether PMCCNTR counts"),
    ("counter ", "counting", "whether filtered events count and allowed ones do"),
    ("measurement on vCPU", "measurement", "whether each vCPU could be measured"),
    ("L1 kernel log", "kernel-health", "what L1's kernel printed (splats)"),
)
OTHER_FAMILY = ("other", "other checks")


def family(check_name: str) -> tuple[str, str]:
    """``(id, description)`` of the family of a check (``vCPU n: `` prefixes ignored)."""
    name = check_name.split(": ", 1)[1] if check_name.startswith("vCPU ") else check_name
    for prefix, family_id, about in FAMILIES:
        if name.startswith(prefix):
            return family_id, about
    return OTHER_FAMILY


# What went wrong in a failing check no rule explains, by family and direction: the
# behaviour a reviewer reads ("a filtered event still counts"), not the register.
SYMPTOMS: dict[tuple[str, str], str] = {
    ("counting", "counts"): "a filtered event still counts",
    ("counting", "stopped"): "an allowed event does not count",
    ("cycle-counter", "counts"): "PMCCNTR counts though CPU_CYCLES is filtered",
    ("cycle-counter", "stopped"): "PMCCNTR stops though CPU_CYCLES is allowed",
    ("pmceid", "advertised"): "a filtered event is still advertised in PMCEID",
    ("pmceid", "hidden"): "an allowed event is hidden from PMCEID",
}


def _number(text: str) -> int | None:
    try:
        return int(text.split()[0], 0)
    except (ValueError, IndexError):
        return None


def _direction(family_id: str, check: Check) -> str:
    """``counts``/``stopped``, ``advertised``/``hidden``, or ``<expected>-<observed>`` for
    an errno: which way a failing check went."""
    expected, observed = check.expected, check.observed
    if family_id in ("counting", "cycle-counter"):
        return "stopped" if expected.startswith("counting") else "counts"
    if family_id == "pmceid":
        if expected in ("present", "absent"):
            return "hidden" if expected == "present" else "advertised"
        want, got = _number(expected), _number(observed)
        if want is not None and got is not None:
            return "advertised" if got & ~want else "hidden"
    return f"{expected}-{observed}".replace(" ", "_")


def symptom(check: Check) -> tuple[str, str]:
    """``(id, title)`` of a failing check no kernel rule explains."""
    family_id, about = family(check.name)
    way = _direction(family_id, check)
    title = SYMPTOMS.get((family_id, way))
    if title is None and family_id in ("filter-errno", "set-pmu-errno"):
        call = "FILTER" if family_id == "filter-errno" else "SET_PMU"
        title = f"{call} answers {check.observed} where the API says {check.expected}"
    return f"{family_id}:{way}", title or about


@dataclass(frozen=True)
class JudgedCheck:
    check: Check
    explained_by: tuple[str, ...] = ()  # rule ids; empty: no single rule explains it


@dataclass(frozen=True)
class CaseJudgement:
    """A case judged against the API: every check, the failing ones with explanations."""

    outcome: Outcome
    checks: tuple[JudgedCheck, ...]
    api: str  # the rules judged against, as the oracle describes them
    # Rules that, toggled, would get a check of this case wrong that the API gets right:
    # whatever the kernel does, it is not that (``for_the_kernel`` drops them everywhere).
    ruled_out: frozenset[str] = frozenset()


def toggled(rules: KernelRules, rule_id: str) -> KernelRules:
    names = {r.id for r in rules.active} ^ {rule_id}
    return KernelRules(rules.version, tuple(r for r in all_rules() if r.id in names))


def _judged(scenario: Scenario, pmu: PmuModel, rules: KernelRules, seen: Observation,
            control: Observation | None) -> dict[str, Check]:
    prediction = predict(pmu=pmu, rules=rules, steps=scenario.steps,
                         workload=scenario.workload, vcpus=scenario.vcpus,
                         no_pmu_vcpus=scenario.no_pmu_vcpus)
    return {c.name: c for c in judge(scenario, prediction, seen, control).checks}


def _explains(name: str, under: dict[str, Check], derived_api: dict[str, Check]) -> bool:
    """Whether the derived checks under a toggled rule account for failing check ``name``:
    the same check passes there, or (a written check the oracle words differently, "PMCEID
    bit of X" against "guest PMCEID0") its family fails under the API's derivation and
    passes entirely under the toggled one."""
    if name in under:
        return under[name].outcome is Outcome.PASS
    wanted = family(name)[0]
    mine = [c for n, c in under.items() if family(n)[0] == wanted]
    before = [c for n, c in derived_api.items() if family(n)[0] == wanted]
    return (bool(mine) and all(c.outcome is not Outcome.FAIL for c in mine)
            and any(c.outcome is Outcome.FAIL for c in before))


def _breaks_others(under: dict[str, Check], derived_api: dict[str, Check]) -> bool:
    """A check the API's derivation passes fails with the rule toggled."""
    return any(c.outcome is Outcome.FAIL and name in derived_api
               and derived_api[name].outcome is Outcome.PASS for name, c in under.items())


def _one_cause(explained: dict[str, list[str]]) -> dict[str, list[str]]:
    """Where some rules explain every failing check of the case, those alone: one cause for
    the case rather than a second, narrower one per check (a kernel without FILTER also
    "explains" its unmasked PMCEID by the masking rule)."""
    if not explained or not all(explained.values()):
        return explained
    common = set.intersection(*(set(rules) for rules in explained.values()))
    if not common:
        return explained
    return {name: [r for r in rules if r in common] for name, rules in explained.items()}


def judge_against_api(scenario: Scenario, pmu: PmuModel, version: KernelVersion,
                      seen: Observation, control: Observation | None) -> CaseJudgement:
    """The scenario as written (its written expectations are the API's), the rest derived
    from ``version``'s rules; each failing check with the rules that explain it, and the
    rules this case rules out. Written expectations do not move with the rules, so
    explanations compare the oracle's own derivation of the scenario, with and without
    each rule."""
    api = rules_for(version)
    checks = _judged(scenario, pmu, api, seen, control)
    failing = [name for name, c in checks.items() if c.outcome is Outcome.FAIL]
    explained: dict[str, list[str]] = {name: [] for name in failing}
    ruled_out = set()
    derived = replace(scenario, expect=Expectations())
    derived_api = _judged(derived, pmu, api, seen, control)
    for rule in all_rules():
        under = _judged(derived, pmu, toggled(api, rule.id), seen, control)
        if _breaks_others(under, derived_api):
            ruled_out.add(rule.id)  # it would explain one check by getting another wrong
            continue
        for name in failing:
            if _explains(name, under, derived_api):
                explained[name].append(rule.id)
    judged = tuple(JudgedCheck(c, tuple(explained.get(name, ()))) for name, c in checks.items())
    outcome = _worst(c.outcome for c in checks.values())
    return CaseJudgement(outcome, judged, api.describe(), frozenset(ruled_out))


def for_the_kernel(judgements: Sequence[CaseJudgement]) -> list[CaseJudgement]:
    """The explanations a kernel's cases agree on: a rule that some case rules out is no
    behaviour of this kernel (a planted bug that ignores DENY is not "PMCCNTR follows event
    0" just because that rule fits the cases where a DENY of CPU_CYCLES was lost); then,
    per case, one cause where one explains all its failing checks."""
    excluded = set().union(*(j.ruled_out for j in judgements)) if judgements else set()
    kept = []
    for judgement in judgements:
        explained = {c.check.name: [r for r in c.explained_by if r not in excluded]
                     for c in judgement.checks if c.check.outcome is Outcome.FAIL}
        explained = _one_cause(explained)
        kept.append(replace(judgement, checks=tuple(
            replace(c, explained_by=tuple(explained.get(c.check.name, ())))
            for c in judgement.checks)))
    return kept


def _worst(outcomes: Iterable[Outcome]) -> Outcome:
    seen = set(outcomes)
    for worst in (Outcome.ERROR, Outcome.FAIL, Outcome.INCONCLUSIVE):
        if worst in seen:
            return worst
    return Outcome.PASS


def with_health(judgement: CaseJudgement, health: Check | None) -> CaseJudgement:
    """The run's kernel-health check added (it is judged on L1's log, not re-judged)."""
    if health is None:
        return judgement
    outcome = Outcome.FAIL if health.outcome is Outcome.FAIL else judgement.outcome
    return replace(judgement, outcome=outcome, checks=(*judgement.checks, JudgedCheck(health)))
