"""The two tables of docs/coverage.rst that say which scenario holds which boundary of a
range and which refused first call: every id they name is a scenario, and each boundary
scenario says in its description the boundary the table puts it on."""

from __future__ import annotations

import re

from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from harness.scenario.discover import load_scenarios

COVERAGE = PROJECT_ROOT / "docs" / "coverage.rst"
BOUNDARIES = "Both ends of every range, for ALLOW and DENY"
REFUSALS = "A refused call leaves no trace"
RULER = re.compile(r"^=+(  +=+)+$")
ID_LITERAL = re.compile(r"``([a-z0-9][a-z0-9-]*)``")


def table_rows(section: str) -> list[str]:
    """The body rows of the first simple table under the section titled ``section``."""
    lines = COVERAGE.read_text().splitlines()
    start = lines.index(section)
    rulers = [n for n in range(start, len(lines)) if RULER.match(lines[n])][:3]
    assert len(rulers) == 3, f"no simple table under {section!r}"
    return [line for line in lines[rulers[1] + 1:rulers[2]] if line.strip()]


def test_tables_name_only_real_scenarios() -> None:
    known = {path.stem for path in SCENARIOS_DIR.glob("*.yaml")}
    for section in (BOUNDARIES, REFUSALS):
        rows = table_rows(section)
        assert len(rows) == 4, f"{section}: expected four rows, got {rows}"
        for row in rows:
            ids = ID_LITERAL.findall(row)
            assert ids, f"{section}: a row names no scenario: {row!r}"
            assert set(ids) <= known, f"{section}: unknown ids {set(ids) - known}"


def test_each_boundary_scenario_says_its_boundary() -> None:
    scenarios = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}
    rows = table_rows(BOUNDARIES)
    assert [" ".join(row.split()[:2]) for row in rows] == [
        "ALLOW start", "ALLOW end", "DENY start", "DENY end"]
    for row in rows:
        action, end = row.split()[:2]
        article = "an" if action == "ALLOW" else "a"
        for ident in ID_LITERAL.findall(row):
            description = " ".join(scenarios[ident].description.split())
            assert f"the {end.upper()} of {article} {action} range" in description, ident
            assert "boundary" in scenarios[ident].tags, ident
