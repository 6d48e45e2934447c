"""What a review's analysis starts from, as one value: each kernel's cases with what their
guests showed (``observed.json``), their own verdicts and health checks, and the facts of
the kernels. Written as ``review-inputs.json`` beside the report, so a review can be
assembled again from a file: the golden tests do exactly that with real runs' inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.results import Check, Outcome
from harness.review.model import Thread, Variant

INPUTS_FORMAT = "pmu-harness-review-inputs/1"


@dataclass(frozen=True)
class CaseInput:
    scenario: str
    machine: str
    mode: str
    outcome: Outcome            # its own run's verdict
    reason: str
    kernel_version: str = ""
    artefacts: str = ""
    observed: dict[str, Any] | None = None  # observed.json: {"filtered", "control"}
    health: Check | None = None             # the run's kernel-health check

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "machine": self.machine, "mode": self.mode,
                "outcome": self.outcome.value, "reason": self.reason,
                "kernel_version": self.kernel_version, "artefacts": self.artefacts,
                "observed": self.observed,
                "health": self.health.to_json() if self.health else None}


@dataclass(frozen=True)
class ReviewInputs:
    series: str
    patches: tuple[str, ...]
    variants: tuple[Variant, ...]
    cases: dict[str, tuple[CaseInput, ...]]  # role -> its cases
    warnings: tuple[str, ...] = ()
    thread: Thread = field(default_factory=Thread)
    commands: tuple[str, ...] = ()
    date: str = ""
    harness: str = ""
    machines: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": INPUTS_FORMAT, "series": self.series, "patches": list(self.patches),
            "variants": [vars(v) | {"series": list(v.series)} for v in self.variants],
            "cases": {role: [c.to_json() for c in cases] for role, cases in self.cases.items()},
            "warnings": list(self.warnings),
            "thread": {"subject": self.thread.subject, "message_id": self.thread.message_id,
                       "references": list(self.thread.references)},
            "commands": list(self.commands), "date": self.date, "harness": self.harness,
            "machines": list(self.machines)}


def _check(data: Any) -> Check | None:
    if data is None:
        return None
    return Check(str(data["name"]), str(data["expected"]), str(data["observed"]),
                 Outcome(data["result"]), str(data["source"]))


def _case(data: dict[str, Any]) -> CaseInput:
    return CaseInput(str(data["scenario"]), str(data["machine"]), str(data["mode"]),
                     Outcome(data["outcome"]), str(data["reason"]),
                     str(data["kernel_version"]), str(data["artefacts"]), data["observed"],
                     _check(data["health"]))


def inputs_from_json(data: Any) -> ReviewInputs:
    """A ``review-inputs.json`` read back; a malformed file is a ``ValueError``."""
    if not isinstance(data, dict) or data.get("format") != INPUTS_FORMAT:
        raise ValueError(f"not a {INPUTS_FORMAT} file")
    try:
        thread = data["thread"]
        return ReviewInputs(
            series=str(data["series"]), patches=tuple(map(str, data["patches"])),
            variants=tuple(Variant(**{**v, "series": tuple(v["series"])})
                           for v in data["variants"]),
            cases={str(role): tuple(_case(c) for c in cases)
                   for role, cases in data["cases"].items()},
            warnings=tuple(map(str, data["warnings"])),
            thread=Thread(str(thread["subject"]), str(thread["message_id"]),
                          tuple(map(str, thread["references"]))),
            commands=tuple(map(str, data["commands"])), date=str(data["date"]),
            harness=str(data["harness"]), machines=tuple(map(str, data["machines"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed review inputs: {exc!r}") from exc
