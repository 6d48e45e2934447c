"""What a review found, as one value: written as ``review.json`` and read back, so the
mail (``review.txt``) and the page (``review.html``) are made from a file as well as from
a run that just finished (and golden-tested from real runs' JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REVIEW_FORMAT = "pmu-harness-review/1"


@dataclass(frozen=True)
class CaseRef:
    """One check of one case that shows a behaviour, with where its artefacts are."""

    scenario: str
    machine: str
    mode: str
    check: str
    expected: str
    observed: str
    artefacts: str = ""
    other: str = ""  # what the kernel compared with observed, where there is one

    @property
    def case(self) -> str:
        return f"{self.scenario}[{self.machine},{self.mode}]"


@dataclass(frozen=True)
class Difference:
    """How one kernel differs from another (or from the API) in one behaviour: ``adds``
    (it now behaves as documented), ``breaks`` (no longer), ``departs`` (against the API),
    ``changes`` (departs both ways, differently)."""

    kind: str
    cases: tuple[CaseRef, ...]


@dataclass(frozen=True)
class Behaviour:
    id: str             # a rule id, "a or b" when several explain it, or "family:<id>"
    title: str
    description: str
    vs_base: Difference | None = None
    vs_api: Difference | None = None
    vs_against: Difference | None = None


@dataclass(frozen=True)
class Variant:
    """One kernel of the review: the base, the base plus the series, or the earlier one."""

    role: str           # "base", "series", "against"
    label: str          # "filter-base + v3.mbx"
    kernel: str         # the profile
    version: str        # "5.10.223"
    prediction: str     # what its own run was judged by
    series: tuple[str, ...] = ()  # the user's series (paths as given)
    image_sha256: str = ""
    build_log: str = ""
    run_dir: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> cases (own verdicts)


@dataclass(frozen=True)
class Finding:
    """A kernel-health report (a splat) in a case, or a case that could not be judged."""

    role: str
    case: str
    message: str
    artefacts: str = ""


@dataclass(frozen=True)
class Thread:
    """Where the reply goes: the cover letter (or first patch) it answers."""

    subject: str = ""
    message_id: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Review:
    series: str                   # the series as the user named it
    patches: tuple[str, ...]      # each patch's subject
    api: str                      # "Linux 5.10.223: the version rules ..."
    machines: tuple[str, ...]
    variants: tuple[Variant, ...]
    behaviours: tuple[Behaviour, ...]
    health: tuple[Finding, ...] = ()
    unjudged: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()
    thread: Thread = field(default_factory=Thread)
    commands: tuple[str, ...] = ()  # how the review itself was asked for
    date: str = ""
    harness: str = ""               # the pmu-harness commit

    def variant(self, role: str) -> Variant | None:
        return next((v for v in self.variants if v.role == role), None)

    @property
    def departures(self) -> tuple[Behaviour, ...]:
        return tuple(b for b in self.behaviours if b.vs_api is not None)

    def to_json(self) -> dict[str, Any]:
        return {"format": REVIEW_FORMAT, **asdict(self)}


def _case(data: dict[str, Any]) -> CaseRef:
    return CaseRef(**{k: str(v) for k, v in data.items()})


def _difference(data: Any) -> Difference | None:
    if data is None:
        return None
    return Difference(str(data["kind"]), tuple(_case(c) for c in data["cases"]))


def review_from_json(data: Any) -> Review:
    """A ``review.json`` read back; a malformed file is a ``ValueError``."""
    if not isinstance(data, dict) or data.get("format") != REVIEW_FORMAT:
        raise ValueError(f"not a {REVIEW_FORMAT} file")
    try:
        return Review(
            series=str(data["series"]), patches=tuple(map(str, data["patches"])),
            api=str(data["api"]), machines=tuple(map(str, data["machines"])),
            variants=tuple(Variant(**{**v, "series": tuple(v["series"])})
                           for v in data["variants"]),
            behaviours=tuple(Behaviour(
                id=str(b["id"]), title=str(b["title"]), description=str(b["description"]),
                vs_base=_difference(b["vs_base"]), vs_api=_difference(b["vs_api"]),
                vs_against=_difference(b["vs_against"])) for b in data["behaviours"]),
            health=tuple(Finding(**f) for f in data["health"]),
            unjudged=tuple(Finding(**f) for f in data["unjudged"]),
            warnings=tuple(map(str, data["warnings"])),
            thread=Thread(str(data["thread"]["subject"]), str(data["thread"]["message_id"]),
                          tuple(map(str, data["thread"]["references"]))),
            commands=tuple(map(str, data["commands"])), date=str(data["date"]),
            harness=str(data["harness"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed review: {exc!r}") from exc
