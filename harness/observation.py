"""What a real run showed, in one shape for both L2 modes, and the probe's JSON parser."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from harness.errors import InfraError
from harness.events import CYCLE_COUNTER, default_event_table
from harness.pmceid import events_in

PROBE_FORMAT = "pmu-harness-probe/1"


@dataclass(frozen=True)
class StepResult:
    op: str
    vcpu: int
    errno: str
    implicit: bool


@dataclass(frozen=True)
class Observation:
    """``pmceid0/1`` are None where the mode cannot read them (linux mode reads sysfs);
    ``advertised`` is the set of common events the guest was told about; ``counters`` maps a
    counter reference (event name, or ``cycle_counter``) to its value, None when the guest's
    tools refused to count it (perf's ``<not supported>``)."""

    mode: str
    steps: tuple[StepResult, ...]
    pmceid0: int | None
    pmceid1: int | None
    advertised: frozenset[int]
    counters: dict[str, int | None]
    measured: bool
    kernel_release: str = ""
    unobservable: frozenset[str] = frozenset()  # counter refs this mode cannot drive
    unlisted_events: frozenset[int] = frozenset()  # events whose PMCEID bit it cannot see
    vcpu: int = 0  # the vCPU the fields above were read on
    # The other measured vCPUs, each in this same shape (their ``steps`` are empty: the
    # calls were made once, for the VM).
    others: tuple[Observation, ...] = ()
    # KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0 as the VM was set up (None: this mode or an
    # older probe does not say).
    has_filter_attr: bool | None = None
    # The guest's ID_AA64DFR0_EL1.PMUVer as the payload read it on this vCPU (None: unread).
    pmuver: int | None = None

    @property
    def filter_errnos(self) -> tuple[str, ...]:
        return tuple(s.errno for s in self.steps if s.op == "filter")

    def on(self, vcpu: int) -> Observation | None:
        """What ``vcpu`` saw, or None where it was not measured."""
        return next((o for o in (self, *self.others) if o.vcpu == vcpu), None)


def advertised_events(pmceid0: int, pmceid1: int) -> frozenset[int]:
    """Event numbers whose PMCEID bit is set (harness.pmceid has the layout)."""
    return events_in(pmceid0, pmceid1)


def errno_name(entry: dict[str, Any]) -> str:
    """``OK`` or the errno name of one call record (probe steps, preload filter log)."""
    number = int(entry.get("errno", 0))
    if not number:
        return "OK"
    return str(entry.get("error") or f"errno {number}")


def _counters(measurement: dict[str, Any]) -> dict[str, int | None]:
    name_of = default_event_table().name_of
    # The probe reports null for a counter the guest does not have (index >= PMCR.N).
    values: dict[str, int | None] = {
        name_of(int(c["event"])): _optional_int(c.get("value"))
        for c in measurement.get("counters", [])
    }
    if measurement.get("cycles_enabled"):
        values[CYCLE_COUNTER] = _optional_int(measurement.get("cycle_counter"))
    return values


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected true, false or null, got {value!r}")


def parse_probe_output(text: str, *, source: str = "pmu-probe") -> Observation:
    """The probe's JSON; a missing or fatal result is an infrastructure error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfraError(f"{source} printed no valid JSON: {exc}", log_tail=text[-2000:]) from exc
    if not isinstance(data, dict) or data.get("format") != PROBE_FORMAT:
        raise InfraError(f"{source}: not a {PROBE_FORMAT} result", log_tail=text[-2000:])
    if data.get("fatal"):
        raise InfraError(f"{source} could not run: {data['fatal']}", log_tail=text[-2000:])
    steps = tuple(StepResult(str(s["op"]), int(s["vcpu"]), errno_name(s), bool(s.get("implicit")))
                  for s in data.get("steps", []))
    release = str(data.get("uname", ""))
    # Probes before `measure` printed only "measurement" (vCPU 0): the captures keep it.
    listed = data.get("measurements") or [data.get("measurement") or {}]
    if not isinstance(listed, list) or not all(isinstance(m, dict) for m in listed):
        raise InfraError(f"{source}: malformed measurements", log_tail=text[-2000:])
    first, *rest = (_view(m, release) for m in listed)
    attr = data.get("has_filter_attr")
    return replace(first, steps=steps, others=tuple(rest),
                   has_filter_attr=attr if isinstance(attr, bool) else None)


def _view(measurement: dict[str, Any], release: str) -> Observation:
    """One vCPU's measurement; the calls' results are the VM's, added by the caller."""
    measured = bool(measurement) and int(measurement.get("errno", 0)) == 0
    pmceid0 = int(measurement["pmceid0"]) if measured else None
    pmceid1 = int(measurement["pmceid1"]) if measured else None
    return Observation(
        mode="probe",
        steps=(),
        pmceid0=pmceid0,
        pmceid1=pmceid1,
        advertised=advertised_events(pmceid0 or 0, pmceid1 or 0),
        counters=_counters(measurement) if measured else {},
        measured=measured,
        kernel_release=release,
        vcpu=int(measurement.get("vcpu", 0)),
        pmuver=_optional_int(measurement.get("pmuver")) if measured else None,
    )


OBSERVATION_FORMAT = "pmu-harness-observation/1"


def observation_to_json(seen: Observation) -> dict[str, Any]:
    """What a run showed, as written beside its verdict (``observed.json``), so it can be
    judged again against another prediction without booting anything (``review``)."""
    return {
        "mode": seen.mode,
        "steps": [{"op": s.op, "vcpu": s.vcpu, "errno": s.errno, "implicit": s.implicit}
                  for s in seen.steps],
        "pmceid0": seen.pmceid0, "pmceid1": seen.pmceid1,
        "advertised": sorted(seen.advertised),
        "counters": dict(sorted(seen.counters.items())),
        "measured": seen.measured, "kernel_release": seen.kernel_release,
        "unobservable": sorted(seen.unobservable),
        "unlisted_events": sorted(seen.unlisted_events), "vcpu": seen.vcpu,
        "others": [observation_to_json(o) for o in seen.others],
        "has_filter_attr": seen.has_filter_attr, "pmuver": seen.pmuver,
    }


def observation_from_json(data: Any) -> Observation:
    """The inverse of ``observation_to_json``; a malformed record is a ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError("an observation must be a JSON object")
    try:
        return Observation(
            mode=str(data["mode"]),
            steps=tuple(StepResult(str(s["op"]), int(s["vcpu"]), str(s["errno"]),
                                   bool(s["implicit"])) for s in data["steps"]),
            pmceid0=_optional_int(data["pmceid0"]), pmceid1=_optional_int(data["pmceid1"]),
            advertised=frozenset(int(e) for e in data["advertised"]),
            counters={str(k): _optional_int(v) for k, v in dict(data["counters"]).items()},
            measured=bool(data["measured"]), kernel_release=str(data["kernel_release"]),
            unobservable=frozenset(str(r) for r in data["unobservable"]),
            unlisted_events=frozenset(int(e) for e in data["unlisted_events"]),
            vcpu=int(data["vcpu"]),
            others=tuple(observation_from_json(o) for o in data["others"]),
            # Absent from the observations written before they were recorded.
            has_filter_attr=_optional_bool(data.get("has_filter_attr")),
            pmuver=_optional_int(data.get("pmuver")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed observation: {exc!r}") from exc
