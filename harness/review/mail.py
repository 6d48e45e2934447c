"""``review.txt``: the review as a plain-text reply for the mailing list. Threaded under
the series' cover letter (``Subject: Re:``, ``In-Reply-To``, ``References``), at most 80
columns, the verdict first, then the behaviour table, the cases behind each behaviour,
kernel health and compiler warnings, and the exact commands that reproduce each finding."""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Iterable

from harness.review.model import Behaviour, CaseRef, Difference, Review, Variant

WIDTH = 80
TITLE_WIDTH = 44
EXAMPLES = 3  # checks quoted per behaviour and comparison
CASES_LISTED = 6  # case names listed per behaviour and comparison


def verdict_line(review: Review) -> str:
    version = review.api.split(":", 1)[0]
    departing = review.departures
    if departing:
        names = ", ".join(b.title for b in departing)
        return (f"Verdict: {len(departing)} behaviour(s) depart from the documented API of "
                f"{version}: {names}.")
    if review.unjudged:
        return (f"Verdict: no departure from the documented API of {version} in the "
                f"cases judged, but {len(review.unjudged)} case(s) could not be judged.")
    return f"Verdict: no departure from the documented API of {version}."


def _wrap(text: str, indent: str = "", first: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [indent.rstrip()]


def comparisons(review: Review) -> list[tuple[str, str]]:
    """(heading, role) of each comparison shown."""
    columns = [("vs base", "base"), ("vs API", "api")]
    against = review.variant("against")
    if against is not None:
        columns.append((f"vs {_short(against)}", "against"))
    return columns


def _short(variant: Variant) -> str:
    name = variant.series[0].rsplit("/", 1)[-1] if variant.series else variant.kernel
    return name if len(name) <= 10 else name[:9] + "~"


def difference_of(behaviour: Behaviour, role: str) -> Difference | None:
    return {"base": behaviour.vs_base, "api": behaviour.vs_api,
            "against": behaviour.vs_against}[role]


def _cell(difference: Difference | None) -> str:
    if difference is None:
        return "-"
    return f"{difference.kind} ({len(difference.cases)})"


def table(review: Review) -> list[str]:
    columns = comparisons(review)
    head = f"  {'behaviour':<{TITLE_WIDTH}}" + "".join(f"{h:<12}" for h, _ in columns)
    lines = [head.rstrip(), "  " + "-" * (len(head.rstrip()) - 2)]
    for behaviour in review.behaviours:
        title = textwrap.wrap(behaviour.title, TITLE_WIDTH - 2) or ["?"]
        cells = "".join(f"{_cell(difference_of(behaviour, role)):<12}" for _, role in columns)
        lines.append(f"  {title[0]:<{TITLE_WIDTH}}{cells}".rstrip())
        lines += [f"    {rest}" for rest in title[1:]]
    if not review.behaviours:
        lines.append("  (no behaviour differs from the base, the API or the earlier "
                     "revision)")
    return lines


def _example(ref: CaseRef, role: str) -> list[str]:
    seen = f"observed {ref.observed}"
    if ref.other:
        seen = f"{role} observed {ref.other}, the series {ref.observed}"
    return _wrap(f"{ref.check}: expected {ref.expected}; {seen}", "        ",
                 f"      {ref.case}: ")


def _listed(cases: list[str]) -> str:
    shown = ", ".join(cases[:CASES_LISTED])
    return shown + (f" and {len(cases) - CASES_LISTED} more" if len(cases) > CASES_LISTED
                    else "")


def _details(review: Review) -> list[str]:
    lines: list[str] = []
    names = {"base": "against the base", "api": "against the documented API",
             "against": "against the earlier revision"}
    for behaviour in review.behaviours:
        lines += _wrap(f"{behaviour.title} [{behaviour.id}]", "    ", "  ")
        for _, role in comparisons(review):
            difference = difference_of(behaviour, role)
            if difference is None:
                continue
            cases = sorted({r.case for r in difference.cases})
            lines += _wrap(f"{names[role]}: {difference.kind} in {len(difference.cases)} "
                           f"check(s) of {len(cases)} case(s): {_listed(cases)}",
                           "      ", "    ")
            for ref in difference.cases[:EXAMPLES]:
                lines += _example(ref, {"base": "the base", "against": "the earlier "
                                        "revision"}.get(role, ""))
        lines.append("")
    return lines


def _command(words: Iterable[str]) -> list[str]:
    """A shell command wrapped at 80 columns with backslashes."""
    lines, current = [], "  $"
    for word in (shlex.quote(w) for w in words):
        if len(current) + 1 + len(word) > WIDTH - 2:
            lines.append(current + " \\")
            current = "     "
        current += " " + word
    return [*lines, current]


def reproduce(review: Review, per_behaviour: int | None = None) -> list[list[str]]:
    """The commands: the review itself, then one run per departing case (at most
    ``per_behaviour`` for each departing behaviour: the mail names one, the page all)."""
    commands = [shlex.split(c) for c in review.commands]
    series = review.variant("series")
    if series is None:
        return commands
    seen = set()
    for behaviour in review.departures:
        assert behaviour.vs_api is not None
        for ref in behaviour.vs_api.cases[:per_behaviour]:
            key = (ref.scenario, ref.machine, ref.mode)
            if key in seen:
                continue
            seen.add(key)
            words = ["pmu-harness", "run", f"testcases/scenarios/{ref.scenario}.yaml",
                     "--kernel", series.kernel]
            for path in series.series:
                words += ["--series", path]
            words += ["--machine", ref.machine, "--mode", ref.mode]
            commands.append(words)
    return commands


def _kernels(review: Review) -> list[str]:
    lines = []
    for variant in review.variants:
        lines += _wrap(f"{variant.role}: {variant.label}, Linux {variant.version or '?'}; "
                       f"own verdicts: " + ", ".join(f"{n} {o}" for o, n in
                                                     sorted(variant.counts.items())),
                       "      ", "    ")
    return lines


def render_mail(review: Review) -> str:
    lines: list[str] = []
    if review.thread.subject:
        lines.append(f"Subject: {review.thread.subject}")
    if review.thread.message_id:
        lines.append(f"In-Reply-To: {review.thread.message_id}")
        lines += _wrap(" ".join(review.thread.references), " ", "References: ")
    if lines:
        lines.append("")
    lines += _wrap(verdict_line(review))
    lines.append("")
    lines += _wrap(f"pmu-harness built this series ({len(review.patches)} patch(es)) on "
                   f"{review.variants[0].label} and ran every scenario on QEMU "
                   f"{' and '.join(review.machines)} (probe VMM; the masking scenarios also "
                   f"in a Linux guest), on these kernels:")
    lines += _kernels(review)
    lines.append("")
    lines += _wrap("Each check was judged against the documented API of the tree's version "
                   "(" + review.api + "). Per behaviour, what the series changes:")
    lines.append("")
    lines += table(review)
    lines.append("")
    lines += _details(review)
    lines += _health(review)
    lines.append("")
    lines += ["To reproduce (the review, then a case of each departing behaviour):"]
    for words in reproduce(review, per_behaviour=1):
        lines += _command(words)
    body = "\n".join(line.rstrip() for line in lines)
    # "-- " with its space: mail readers take what follows for the signature.
    return (f"{body}\n\n-- \npmu-harness {review.harness or '(unknown commit)'}, "
            f"{review.date}\n")


def _health(review: Review) -> list[str]:
    lines = []
    if review.health:
        lines += _wrap(f"Kernel health: {len(review.health)} splat(s):")
        for finding in review.health:
            lines += _wrap(f"{finding.role}, {finding.case}: {finding.message}", "      ",
                           "    ")
    else:
        lines += _wrap("Kernel health: no splat (KASAN, lockdep, WARNING, BUG, Oops) in any "
                       "case on any kernel.")
    if review.unjudged:
        lines += _wrap(f"Not judged: {len(review.unjudged)} case(s) erred:")
        for finding in review.unjudged[:10]:
            lines += _wrap(f"{finding.role}, {finding.case}: {finding.message}", "      ",
                           "    ")
    if review.warnings:
        lines += _wrap("New compiler warnings in the files the series touches:")
        lines += [f"    {w}"[:WIDTH] for w in review.warnings]
    else:
        lines += _wrap("Compiler warnings: none new in the files the series touches.")
    return lines


def render_summary(review: Review) -> str:
    """What the terminal shows: the verdict, the kernels, the behaviour table and the
    findings (the cases behind each behaviour are in the reports)."""
    lines = [*_wrap(verdict_line(review)), "", *_kernels(review), "", *table(review), "",
             *_health(review)]
    return "\n".join(line.rstrip() for line in lines) + "\n"
