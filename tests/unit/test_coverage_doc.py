"""docs/coverage.rst maps the documented API and every kernel rule onto scenarios: every
scenario it names must exist, every rule of configs/kernel-rules.yaml must have an entry, and
every entry must name a scenario or say why none can check it.

The page's format (its introduction says the same): an entry is a line at the left margin
followed by a field list indented by four spaces (``:Scenarios:``, ``:Rule:``, ``:Note:``,
``:Not checkable:``); a field goes on over lines indented deeper; ``Scenarios`` holds only
scenario ids in double backquotes, separated by commas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
import yaml

from harness.paths import CONFIGS_DIR, PROJECT_ROOT, SCENARIOS_DIR

COVERAGE = PROJECT_ROOT / "docs" / "coverage.rst"
# Scenarios announced for issue 12 and written in another branch: the page may name them
# before they exist. Empty this set as they land (a test below fails once one exists).
PENDING_SCENARIOS: frozenset[str] = frozenset()
FIELD = re.compile(r"^ {4}:([A-Za-z][A-Za-z ]*):(.*)$")
CONTINUATION = re.compile(r"^ {5,}\S")
ID_LITERAL = re.compile(r"``([^`]*)``")
ID = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass
class Entry:
    line: int
    title: str
    fields: dict[str, str] = field(default_factory=dict)

    def ids(self, name: str) -> list[str]:
        return ID_LITERAL.findall(self.fields.get(name, ""))


def parse_entries(text: str) -> list[Entry]:
    """Every entry of the page: a left-margin line directly followed by a field."""
    lines = text.splitlines()
    entries: list[Entry] = []
    current: Entry | None = None
    last_field = ""
    for number, line in enumerate(lines, start=1):
        found = FIELD.match(line)
        if found and current is None:
            title = lines[number - 2] if number >= 2 else ""
            if not title[:1].strip():
                raise AssertionError(f"coverage.rst:{number}: a field outside an entry (the "
                                     "line above an entry's first field is its title)")
            current = Entry(number - 1, title.strip())
            entries.append(current)
        if found and current is not None:
            last_field = found.group(1)
            if last_field in current.fields:
                raise AssertionError(f"coverage.rst:{number}: field {last_field} twice")
            current.fields[last_field] = found.group(2).strip()
        elif current is not None and CONTINUATION.match(line):
            current.fields[last_field] += " " + line.strip()
        else:
            current = None
    return entries


def entry_problems(entry: Entry, scenarios: set[str], rules: set[str],
                   pending: frozenset[str]) -> list[str]:
    """What is wrong with one entry."""
    where = f"coverage.rst:{entry.line} ({entry.title[:50]})"
    found: list[str] = []
    ids = entry.ids("Scenarios")
    rest = ID_LITERAL.sub("", entry.fields.get("Scenarios", "")).replace(",", "").strip()
    if rest:
        found.append(f"{where}: Scenarios holds more than ids in ``...``: {rest!r}")
    for ident in ids:
        if not ID.fullmatch(ident):
            found.append(f"{where}: {ident!r} is not a scenario id")
        elif ident not in scenarios and ident not in pending:
            found.append(f"{where}: no scenario {ident!r} in testcases/scenarios")
    if not ids and not entry.fields.get("Not checkable"):
        found.append(f"{where}: names no scenario and does not say why none can check it")
    if ids and "Not checkable" in entry.fields:
        found.append(f"{where}: both names scenarios and says none can check it")
    found += [f"{where}: no rule {rule!r} in kernel-rules.yaml"
              for rule in entry.ids("Rule") if rule not in rules]
    return found


def problems(text: str, scenarios: set[str], rules: set[str],
             pending: frozenset[str] = PENDING_SCENARIOS) -> list[str]:
    """What is wrong with a coverage page, one message per problem."""
    entries = parse_entries(text)
    if not entries:
        return ["no entries found"]
    found = [message for entry in entries
             for message in entry_problems(entry, scenarios, rules, pending)]
    covered = {rule for entry in entries for rule in entry.ids("Rule")}
    found += [f"rule {rule!r} of kernel-rules.yaml has no entry in coverage.rst"
              for rule in sorted(rules - covered)]
    return found


def scenario_ids() -> set[str]:
    # The file stem is the id (the scenario checker enforces id == stem).
    return {path.stem for path in SCENARIOS_DIR.glob("*.yaml")}


def rule_ids() -> set[str]:
    data = yaml.safe_load((CONFIGS_DIR / "kernel-rules.yaml").read_text())
    return {str(rule["id"]) for rule in data["rules"]}


def test_coverage_page_names_real_scenarios_and_every_rule() -> None:
    assert problems(COVERAGE.read_text(), scenario_ids(), rule_ids()) == []


def test_pending_scenarios_do_not_exist_yet() -> None:
    # Once one lands, it is no longer pending: take it out of PENDING_SCENARIOS.
    assert not PENDING_SCENARIOS & scenario_ids()


def test_every_pending_scenario_is_named_on_the_page() -> None:
    named = {i for e in parse_entries(COVERAGE.read_text()) for i in e.ids("Scenarios")}
    assert named >= PENDING_SCENARIOS


GOOD = """\
Title
=====

Intro text.

A statement
    :Scenarios: ``alpha``,
        ``beta``
    :Note: a note.

Another one
    :Not checkable: nothing can provoke it.

A rule entry
    :Rule: ``rule-one``
    :Scenarios: ``alpha``
"""


def test_the_checker_accepts_a_well_formed_page() -> None:
    entries = parse_entries(GOOD)
    assert [e.title for e in entries] == ["A statement", "Another one", "A rule entry"]
    assert entries[0].ids("Scenarios") == ["alpha", "beta"]
    assert problems(GOOD, {"alpha", "beta"}, {"rule-one"}, frozenset()) == []


@pytest.mark.parametrize(("page", "scenarios", "rules", "expected"), [
    # A scenario that does not exist (a typo, or a renamed file).
    (GOOD, {"alpha"}, {"rule-one"}, "no scenario 'beta'"),
    # A rule of kernel-rules.yaml nobody mapped.
    (GOOD, {"alpha", "beta"}, {"rule-one", "rule-two"}, "rule 'rule-two'"),
    # A rule id that kernel-rules.yaml does not have.
    (GOOD, {"alpha", "beta"}, set(), "no rule 'rule-one'"),
    # An entry with neither scenarios nor a reason.
    (GOOD.replace(":Not checkable: nothing can provoke it.", ":Note: later."),
     {"alpha", "beta"}, {"rule-one"}, "names no scenario"),
    # An id written without backquotes would be missed: not allowed.
    (GOOD.replace("``beta``", "beta"), {"alpha", "beta"}, {"rule-one"}, "more than ids"),
])
def test_the_checker_finds(page: str, scenarios: set[str], rules: set[str],
                           expected: str) -> None:
    found = problems(page, scenarios, rules, frozenset())
    assert any(expected in message for message in found), found


def test_a_field_outside_an_entry_is_refused() -> None:
    with pytest.raises(AssertionError, match="outside an entry"):
        parse_entries(GOOD.replace("A statement\n", "A statement\n\n"))


def test_a_pending_id_is_allowed_only_while_pending() -> None:
    assert problems(GOOD, {"alpha"}, {"rule-one"}, frozenset({"beta"})) == []
