"""The HTML matrix report, parsed back with html.parser and checked for its structure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.reports.html import artefacts_href, render_html, write_html
from harness.results import CaseResult, Check, Outcome, class_of_outcome, summary_line

VOID = {"meta", "col", "br", "hr", "img", "link", "input"}
HOSTILE = '<script>alert("x")</script> & "quoted" \'single\''


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, tag: str, cls: str | None = None) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and (cls is None or cls in n.classes)]

    def one(self, tag: str, cls: str | None = None) -> Node:
        (found,) = self.find(tag, cls)
        return found

    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text() for c in self.children)


class TreeBuilder(HTMLParser):
    """A strict little DOM: every non-void element must be closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        # Text goes into its own child so the order of text and elements is kept.
        self.stack[-1].children.append(Node("#text", {}, texts=[data]))


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def rec(scenario: str, machine: str, kernel: str, mode: str, outcome: Outcome,
        reason: str = "5 checks passed", artefacts: str | None = "", **kw: Any) -> CaseResult:
    name = f"{scenario}[{machine},{kernel},{mode}]"
    if artefacts == "":
        artefacts = f"/srv/results/run-1/{kernel}-{machine}/{scenario}-{mode}"
    version = {"debian-5.10": "5.10.223", "debian-6.1": "6.1.192",
               "debian-6.12": "6.12.118", "debian-latest": "7.3.4"}.get(kernel, "")
    record = CaseResult(name, scenario, machine, kernel, mode, outcome, reason,
                        version if outcome is not Outcome.SKIP else "", 1.5, artefacts,
                        error_class=class_of_outcome(outcome))
    return replace(record, **kw)


def sample() -> list[CaseResult]:
    kernels = ("debian-latest", "debian-6.12", "debian-5.10", "debian-6.1")
    records = []
    for kernel in kernels:
        for machine in ("max", "cortex-a57"):
            if (kernel, machine) == ("debian-6.12", "max"):
                continue  # a column that is not in the matrix
            records.append(rec("member-deny", machine, kernel, "probe", Outcome.PASS))
            records.append(rec("cycle-counter-deny", machine, kernel, "probe", Outcome.PASS))
    records.append(rec("member-deny", "max", "debian-6.1", "linux", Outcome.PASS))
    checks = (Check("unfiltered control run", "PMU initialised and measured", "ok",
                    Outcome.PASS, "harness"),
              Check("guest PMCEID0", "0x1", "0x0", Outcome.FAIL, "oracle: kernel 7.3.4: x"))
    records += [
        rec("sw-incr-unfilterable", "max", "debian-latest", "probe", Outcome.FAIL,
            "guest PMCEID0: expected 0x1, observed 0x0", checks=checks,
            bundle="/srv/results/run-1/bundles/sw-incr.tar.gz"),
        rec("sw-incr-unfilterable", "max", "debian-latest", "linux", Outcome.INCONCLUSIVE,
            "counter SW_INCR: control showed 0"),
        rec("event-space-width", "cortex-a57", "debian-6.1", "probe", Outcome.ERROR,
            "infrastructure: " + HOSTILE),
        rec("inst-retired-icount", "max", "debian-6.1", "probe", Outcome.SKIP,
            "scenario does not apply to this machine or kernel", artefacts=None),
    ]
    return records


def test_matrix_rows_and_grouped_columns() -> None:
    root = parse(render_html(sample(), base=Path("/srv/results/run-1")))
    table = root.one("table", "matrix")
    head_rows = table.one("thead").find("tr")
    kernels = head_rows[0].find("th", "kernel")
    assert [k.children[0].text() for k in kernels] == [
        "debian-5.10", "debian-6.1", "debian-6.12", "debian-latest"]
    assert [k.one("span", "kver").text() for k in kernels] == [
        "5.10.223", "6.1.192", "6.12.118", "7.3.4"]
    assert [k.attrs["colspan"] for k in kernels] == ["2", "2", "1", "2"]
    machines = [m.text() for m in head_rows[1].find("th", "machine")]
    assert machines == ["cortex-a57", "max"] * 2 + ["cortex-a57"] + ["cortex-a57", "max"]
    rows = table.one("tbody").find("tr")
    assert [r.one("th").one("code").text() for r in rows] == sorted(
        {"member-deny", "cycle-counter-deny", "sw-incr-unfilterable", "event-space-width",
         "inst-retired-icount"})
    assert all(len(r.find("td")) == len(machines) for r in rows)


def test_cells_are_coloured_by_outcome_and_hold_one_badge_per_mode() -> None:
    records = sample()
    root = parse(render_html(records, base=Path("/srv/results/run-1")))
    rows = {r.one("th").one("code").text(): r.find("td")
            for r in root.one("table", "matrix").one("tbody").find("tr")}
    # columns: 5.10/a57, 5.10/max, 6.1/a57, 6.1/max, 6.12/a57, latest/a57, latest/max
    member = rows["member-deny"]
    assert "cell-pass" in member[3].classes
    badges = member[3].find("a", "badge")
    assert [b.text() for b in badges] == ["probe \u2713", "linux \u2713"]
    assert all("pass" in b.classes for b in badges)
    assert [b.text() for b in member[4].find("a", "badge")] == ["probe \u2713"]
    sw_incr = rows["sw-incr-unfilterable"]
    assert "cell-fail" in sw_incr[6].classes
    assert [sorted(b.classes) for b in sw_incr[6].find("a", "badge")] == [
        ["badge", "ec-kernel-failure", "fail"], ["badge", "ec-inconclusive", "inconclusive"]]
    assert all("empty" in c.classes and not c.children for c in sw_incr[:6])
    assert "cell-error" in rows["event-space-width"][2].classes
    skip = rows["inst-retired-icount"][3]
    assert "cell-skip" in skip.classes
    assert skip.find("a") == [] and "skip" in skip.one("span", "badge").classes
    badge_count = sum(len(td.find("a", "badge")) + len(td.find("span", "badge"))
                      for tds in rows.values() for td in tds)
    assert badge_count == len(records)


def test_badges_link_to_artefacts_relative_to_the_html_file() -> None:
    root = parse(render_html(sample(), base=Path("/srv/results/run-1")))
    links = root.one("table", "matrix").find("a", "badge")
    hrefs = {a.attrs["href"] for a in links}
    assert "debian-6.1-max/member-deny-linux/" in hrefs
    assert all(not h.startswith(("/", "file:")) for h in hrefs)
    titles = {a.attrs["title"] for a in links}
    assert ("sw-incr-unfilterable[max,debian-latest,linux]: inconclusive (inconclusive) \u2014 "
            "counter SW_INCR: control showed 0") in titles


def test_artefacts_href() -> None:
    assert artefacts_href("/srv/r/run-1/a b#1", Path("/srv/r/run-1")) == "a%20b%231/"
    assert artefacts_href("/srv/r/run-2/x", Path("/srv/r/run-1")) == "../run-2/x/"
    assert artefacts_href("/srv/r/x", Path("/tmp/reports")) == "file:///srv/r/x/"
    assert artefacts_href("/srv/r/x", None) == "file:///srv/r/x/"


def test_hostile_reasons_are_escaped() -> None:
    html = render_html(sample(), {"suite": "<b>nightly</b>"})
    assert "<script" not in html and "<b>nightly" not in html
    assert "&lt;script&gt;" in html
    root = parse(html)
    assert root.find("script") == [] and root.find("b") == []
    error = [a for a in root.find("a", "badge") if "error" in a.classes]
    assert error[0].attrs["title"].endswith("infrastructure: " + HOSTILE)
    assert any(HOSTILE in p.text() for p in root.find("p", "reason"))


def test_details_for_every_problem_with_anchors_checks_and_bundle() -> None:
    records = sample()
    root = parse(render_html(records, base=Path("/srv/results/run-1")))
    section = next(n for n in root.find("section") if n.attrs.get("id") == "details")
    articles = section.find("article")
    problems = [r for r in records if r.outcome in (Outcome.FAIL, Outcome.ERROR,
                                                    Outcome.INCONCLUSIVE)]
    assert len(articles) == len(problems) == 3
    ids = [a.attrs["id"] for a in articles]
    assert len(set(ids)) == 3
    assert all(a.find("code")[0].text() in {p.name for p in problems} for a in articles)
    links = {a.attrs.get("href") for a in root.find("a")}
    assert {"#" + i for i in ids} & links  # the matrix's row headers lead to the details
    failed = next(a for a in articles if "fail" in a.classes)
    rows = failed.one("table", "checks").one("tbody").find("tr")
    assert [[td.text() for td in r.find("td")] for r in rows][1] == [
        "guest PMCEID0", "0x1", "0x0", "\u2717 fail", "oracle: kernel 7.3.4: x"]
    assert "r-fail" in rows[1].classes
    assert "pmu-harness rerun /srv/results/run-1/bundles/sw-incr.tar.gz" in failed.text()
    inconclusive = next(a for a in articles if "inconclusive" in a.classes)
    assert "rerun" not in inconclusive.text()


def test_header_meta_and_final_verdict_line() -> None:
    records = sample()
    meta = {"suite": "nightly", "shard": "1/3, 2/3", "jobs": 2, "seconds": 711.9,
            "run_dir": "/srv/results/run-1", "date": "2026-11-24 21:15 UTC",
            "warnings": ["incomplete matrix: shard(s) 3/3 missing from the inputs"]}
    root = parse(render_html(records, meta))
    verdict = summary_line(records)
    assert verdict == "verdict: 15 pass, 1 fail, 1 error, 1 inconclusive, 1 skip"
    assert verdict in root.one("title").text()
    header = root.one("header")
    assert "fail" in header.classes
    assert header.one("p", "verdict").text() == verdict
    shown = {n.one("dt").text(): n.one("dd").text() for n in header.one("dl").find("div")}
    assert shown == {"suite": "nightly", "shard": "1/3, 2/3", "jobs": "2",
                     "wall seconds": "711.9", "date": "2026-11-24 21:15 UTC",
                     "run dir": "/srv/results/run-1"}
    assert "3/3 missing" in header.one("p", "warning").text()
    texts = [n.texts[0].strip() for n in root.one("body").walk()
             if n.tag == "#text" and n.texts[0].strip()]
    assert texts[-1] == verdict


def test_self_contained_and_graceful_when_empty() -> None:
    html = render_html([])
    root = parse(html)
    assert root.find("script") == [] and root.find("link") == []
    assert not any("src" in n.attrs for n in root.walk())
    assert "http" not in html
    assert root.one("footer").text() == "verdict: 0 pass, 0 fail, 0 error, 0 inconclusive, 0 skip"
    assert "error" in root.one("header").classes  # nothing judged is not green


def test_anchor_ids_stay_unique_when_names_collide() -> None:
    records = [rec("a", "m", "k", "probe", Outcome.FAIL), rec("a", "m", "k", "probe",
               Outcome.FAIL, name="a-m-k-probe"), rec("a", "m", "k", "linux", Outcome.ERROR)]
    root = parse(render_html(records))
    ids = [a.attrs["id"] for a in root.find("article")]
    assert len(ids) == len(set(ids)) == 3
    assert all(i.startswith("case-") and " " not in i for i in ids)


@pytest.mark.parametrize(("outcomes", "state"), [
    ([Outcome.PASS, Outcome.SKIP], "ok"), ([Outcome.PASS, Outcome.INCONCLUSIVE], "error"),
    ([Outcome.FAIL, Outcome.ERROR], "fail")])
def test_header_colour_follows_the_exit_code(outcomes: list[Outcome], state: str) -> None:
    records = [rec(f"s{i}", "max", "debian-6.1", "probe", o) for i, o in enumerate(outcomes)]
    root = parse(render_html(records))
    assert state in root.one("header").classes and state in root.one("footer").classes


def test_write_html_is_atomic_and_links_from_its_directory(tmp_path: Path) -> None:
    records = [rec("member-deny", "max", "debian-6.1", "probe", Outcome.FAIL,
                   artefacts=str(tmp_path / "run" / "debian-6.1-max" / "member-deny-probe"))]
    out = tmp_path / "report.html"
    write_html(records, out, {"suite": "smoke"})
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["report.html"]
    badge = parse(out.read_text()).one("a", "badge")
    assert badge.attrs["href"] == "run/debian-6.1-max/member-deny-probe/"
