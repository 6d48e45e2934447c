"""Observed vs expected: one named check per fact, and the scenario's outcome.

Expectations come from the scenario where it wrote them, from the oracle where it said
``derive``. "Not counting" only passes when the unfiltered control showed the same counter
counting: under TCG most events never count, and silence proves nothing by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.events import format_event
from harness.observation import Observation, advertised_events
from harness.oracle import Prediction
from harness.results import Check, Outcome
from harness.scenario.model import (
    Expectations,
    FilterCall,
    HasAttrStep,
    InitStep,
    PmuVerStep,
    Scenario,
    SetPmuStep,
    Step,
)

# What a measured vCPU the written expectations do not hold for is judged by: the oracle.
DERIVED = Expectations()


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    checks: tuple[Check, ...]

    @property
    def reason(self) -> str:
        for wanted in (Outcome.FAIL, Outcome.INCONCLUSIVE):
            bad = [c for c in self.checks if c.outcome is wanted]
            if bad:
                more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
                return bad[0].message() + more
        return f"{len(self.checks)} checks passed"


def _outcome(ok: bool) -> Outcome:
    return Outcome.PASS if ok else Outcome.FAIL


def _errno_checks(scenario: Scenario, prediction: Prediction, seen: Observation) -> list[Check]:
    checks = []
    written = scenario.expect.errnos
    observed = seen.filter_errnos
    calls = scenario.filter_calls
    predicted = [o for o in prediction.steps if isinstance(o.step, FilterCall)]
    for index, call in enumerate(calls):
        got = observed[index] if index < len(observed) else "missing"
        if written is not None:
            want, source = written[index], "scenario"
        else:
            want = predicted[index].errno
            source = f"oracle: {predicted[index].reason}; {prediction.rules.describe()}"
        name = f"errno of filter call {index + 1} (line {call.line}: {call.describe()})"
        checks.append(Check(name, want, got, _outcome(want == got), source))
    return checks + [check for op, kind, label in _ORACLE_JUDGED
                     for check in _step_checks(op, kind, label, prediction, seen)]


# The steps other than FILTER calls, judged by the oracle: what they answer is the kernel's
# to decide: (the probe's step "op", the scenario's step type, how its check is named).
_ORACLE_JUDGED: tuple[tuple[str, type[Step], str], ...] = (
    ("set-pmu", SetPmuStep, "errno of line"), ("init", InitStep, "errno of init step, line"),
    ("has-attr", HasAttrStep, "answer of HAS_DEVICE_ATTR step, line"),
    ("pmuver", PmuVerStep, "errno of PMUVer write, line"))


def _step_checks(op: str, kind: type[Step], label: str, prediction: Prediction,
                 seen: Observation) -> list[Check]:
    """The scenario's own steps of one kind (not the VMM's implicit inits), in order."""
    observed = [s.errno for s in seen.steps if s.op == op and not s.implicit]
    predicted = [o for o in prediction.steps if isinstance(o.step, kind) and not o.implicit]
    checks = []
    for index, outcome in enumerate(predicted):
        got = observed[index] if index < len(observed) else "missing"
        checks.append(Check(f"{label} {outcome.step.line}: {outcome.step.describe()}",
                            outcome.errno, got, _outcome(outcome.errno == got),
                            f"oracle: {outcome.reason}; {prediction.rules.describe()}"))
    return checks


def _attr_word(has: bool) -> str:
    return "0 (has it)" if has else "ENXIO (has not)"


def _has_attr_check(prediction: Prediction, seen: Observation) -> list[Check]:
    """KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0, which the probe asks in every run: a kernel
    that has the filter must say so (a VMM probes before it sets one)."""
    if seen.has_filter_attr is None:  # linux mode, or a probe from before it was recorded
        return []
    return [Check("KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0",
                  _attr_word(prediction.has_filter_attr), _attr_word(seen.has_filter_attr),
                  _outcome(prediction.has_filter_attr == seen.has_filter_attr),
                  f"oracle: {prediction.rules.describe()}")]


def _pmuver_check(prediction: Prediction, view: Observation) -> list[Check]:
    """After an accepted PMUVer write, the guest reads the written version."""
    if prediction.guest_pmuver is None or view.pmuver is None:
        return []
    return [Check("guest ID_AA64DFR0_EL1.PMUVer", f"{prediction.guest_pmuver:#x}",
                  f"{view.pmuver:#x}", _outcome(prediction.guest_pmuver == view.pmuver),
                  "oracle: the VMM's PMUVer write was accepted")]


def _bit_word(prediction_value: int) -> str:
    return f"0x{prediction_value:x}"


def _word_check(name: str, want: int, got: int | None, mode: str, source: str) -> Check:
    if got is None:
        return Check(f"guest {name}", _bit_word(want), f"not observable in {mode} mode",
                     Outcome.SKIP, source)
    return Check(f"guest {name}", _bit_word(want), _bit_word(got), _outcome(want == got),
                 source)


def _word_checks(expect: Expectations, prediction: Prediction,
                 seen: Observation) -> list[Check]:
    """Whole PMCEID words: as written, or the oracle's where the scenario says `derive`."""
    oracle = f"oracle: {prediction.rules.describe()}"
    checks = []
    for register, written, predicted, got in ((0, expect.pmceid0, prediction.pmceid0,
                                               seen.pmceid0),
                                              (1, expect.pmceid1, prediction.pmceid1,
                                               seen.pmceid1)):
        name = f"PMCEID{register}"
        if written is not None:
            checks.append(_word_check(name, written, got, seen.mode, "scenario"))
        elif register in expect.derive_words:
            checks.append(_word_check(name, predicted, got, seen.mode, oracle))
    return checks


def _bit_checks(expect: Expectations, seen: Observation) -> list[Check]:
    checks = []
    for events, present in ((expect.pmceid_present, True), (expect.pmceid_absent, False)):
        for event in events or ():
            name, want = f"PMCEID bit of {format_event(event)}", "present" if present else "absent"
            if event in seen.unlisted_events:
                checks.append(Check(name, want, f"not observable in {seen.mode} mode",
                                    Outcome.SKIP, "scenario"))
                continue
            got = event in seen.advertised
            checks.append(Check(name, want, "present" if got else "absent",
                                _outcome(got == present), "scenario"))
    return checks


def _pmceid_checks(expect: Expectations, prediction: Prediction, seen: Observation,
                   control: Observation | None) -> list[Check]:
    if not expect.says_nothing_of_pmceid:
        return _word_checks(expect, prediction, seen) + _bit_checks(expect, seen)
    # Nothing written: the oracle's whole words, or in linux mode its sysfs list.
    if seen.pmceid0 is not None and seen.pmceid1 is not None:
        return _word_checks(replace(expect, derive_words=frozenset({0, 1})), prediction, seen)
    return _advertised_checks(prediction, seen, control)


def _advertised_checks(prediction: Prediction, seen: Observation,
                       control: Observation | None) -> list[Check]:
    """Linux mode: the guest's sysfs list stands for PMCEID. The guest's driver lists only
    events it has a name for, so only those the unfiltered control showed are compared."""
    want = advertised_events(prediction.pmceid0, prediction.pmceid1) - seen.unlisted_events
    if control is not None:
        want &= control.advertised
    checks = []
    for event in sorted(want ^ seen.advertised):
        checks.append(Check(
            f"guest sysfs event {format_event(event)}",
            "present" if event in want else "absent",
            "present" if event in seen.advertised else "absent",
            Outcome.FAIL, f"oracle: {prediction.rules.describe()}"))
    if not checks:
        checks.append(Check("guest sysfs event list", f"{len(want)} events",
                            f"{len(seen.advertised)} events", Outcome.PASS, "oracle"))
    return checks


def _count_check(ref: str, want: bool, source: str, seen: Observation,
                 control: Observation | None, *, zero_is_enough: bool = False) -> Check:
    value = seen.counters.get(ref)
    shown = "not supported" if value is None else str(value)
    name = f"counter {ref}"
    if ref in seen.unobservable:
        return Check(name, "counting" if want else "not counting",
                     f"not observable in {seen.mode} mode", Outcome.SKIP, source)
    if ref not in seen.counters:
        return Check(name, "counting" if want else "not counting", "not programmed",
                     Outcome.ERROR, source)
    counting = bool(value)
    if want or counting:
        return Check(name, "counting" if want else "0", shown, _outcome(counting == want),
                     source)
    control_value = control.counters.get(ref) if control else None
    if zero_is_enough:
        return Check(name, "0 (no event this machine counts)", shown, Outcome.PASS, source)
    if not control_value:
        why = "no control run" if control is None else f"control showed {control_value}"
        return Check(name, "0 (with the control counting)", f"{shown}; {why}",
                     Outcome.INCONCLUSIVE, source)
    return Check(name, "0", f"{shown} (control: {control_value})", Outcome.PASS, source)


def _counting_checks(expect: Expectations, prediction: Prediction, seen: Observation,
                     control: Observation | None) -> list[Check]:
    wanted: dict[str, tuple[bool, str]] = {}
    if expect.counting is None and expect.not_counting is None:
        for counter in prediction.counters:
            if counter.counts is not None:
                wanted[counter.ref] = (counter.counts, f"oracle: {counter.reason}")
    for refs, want in ((expect.counting, True), (expect.not_counting, False)):
        for ref in refs or ():
            wanted[ref] = (want, "scenario")
    # Only the oracle's own "no such event here" needs no control: a scenario's written
    # not_counting still does.
    no_event = {c.ref for c in prediction.counters if c.zero_without_control}
    return [_count_check(ref, want, source, seen, control,
                         zero_is_enough=ref in no_event and source != "scenario")
            for ref, (want, source) in wanted.items()]


def _control_checks(control: Observation | None) -> list[Check]:
    if control is None:
        return []
    # The PMUVer write the control shares with the filtered run is judged there.
    ok = all(s.errno == "OK" for s in control.steps if s.op != "pmuver") and control.measured
    return [Check("unfiltered control run", "PMU initialised and measured",
                  "ok" if ok else "failed", Outcome.PASS if ok else Outcome.ERROR, "harness")]


def _vcpu_checks(scenario: Scenario, prediction: Prediction, seen: Observation,
                 control: Observation | None, vcpu: int) -> list[Check]:
    """What one measured vCPU saw, against the expectations that hold for it."""
    view = seen.on(vcpu)
    control_view = control.on(vcpu) if control else None
    expect = scenario.expect if scenario.expect.holds_for(vcpu) else DERIVED
    if view is not None and view.measured:
        checks = (_pmceid_checks(expect, prediction, view, control_view)
                  + _counting_checks(expect, prediction, view, control_view)
                  + _pmuver_check(prediction, view))
        if len(scenario.measure) == 1:
            return checks
        return [replace(c, name=f"vCPU {vcpu}: {c.name}") for c in checks]
    if prediction.measured_on(vcpu):
        return [Check(f"measurement on vCPU {vcpu}", "measured", "not measured", Outcome.FAIL,
                      f"oracle: {prediction.rules.describe()}")]
    return []


def judge(scenario: Scenario, prediction: Prediction, seen: Observation,
          control: Observation | None) -> Verdict:
    checks = (_control_checks(control) + _has_attr_check(prediction, seen)
              + _errno_checks(scenario, prediction, seen))
    for vcpu in scenario.measure:
        checks += _vcpu_checks(scenario, prediction, seen, control, vcpu)
    return Verdict(_overall(checks), tuple(checks))


def _overall(checks: list[Check]) -> Outcome:
    outcomes = {c.outcome for c in checks}
    for worst in (Outcome.ERROR, Outcome.FAIL, Outcome.INCONCLUSIVE):
        if worst in outcomes:
            return worst
    return Outcome.PASS
