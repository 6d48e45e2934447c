"""Suites, shards and the KTAP/JUnit reports (issue 6 groundwork), all without booting."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.commands.run import _plan
from harness.errors import UsageError
from harness.formats import junit, ktap
from harness.runner import CaseResult
from harness.shard import parse_shard
from harness.suite import load_suite, suite_names
from harness.verdict import Outcome


def args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"paths": [], "kernel": None, "machine": None, "mode": None,
                               "tag": [], "suite": None, "shard": None}
    base.update(kw)
    return argparse.Namespace(**base)


def names(ns: argparse.Namespace) -> list[str]:
    groups, _ = _plan(ns)
    return [c.name for g in groups for c in g.cases]


def test_suites_load() -> None:
    assert {"default", "nightly", "smoke"} <= set(suite_names())
    for name in suite_names():
        assert load_suite(name).runs


def test_nightly_matrix_shape() -> None:
    groups, _ = _plan(args(suite="nightly"))
    assert len(groups) == 8  # 4 kernels x 2 machines, linux cases share the max L1s
    modes = {c.mode for g in groups for c in g.cases}
    assert modes == {"probe", "linux"}


def test_shards_partition_the_matrix() -> None:
    whole = names(args(suite="nightly"))
    parts = [names(args(suite="nightly", shard=f"{i}/3")) for i in (1, 2, 3)]
    assert sorted(name for part in parts for name in part) == sorted(whole)
    assert len(set(whole)) == len(whole)
    assert all(parts)


def test_bad_shard_and_mixed_suite_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_shard("4/3")
    with pytest.raises(UsageError):
        _plan(args(suite="smoke", kernel=["debian-6.1"]))


def results() -> list[CaseResult]:
    groups, skipped = _plan(args(suite="smoke"))
    cases = [c for g in groups for c in g.cases]
    outcomes = [Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE]
    made = [CaseResult(c, outcomes[i % 3], f"reason # {i}", artefacts=Path("/tmp/a"))
            for i, c in enumerate(cases)]
    return made + skipped[:1]


def test_ktap_has_plan_lines_and_totals() -> None:
    text = ktap(results())
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1" and lines[1] == f"1..{len(results())}"
    assert lines[2].startswith("ok 1 ") and lines[3].startswith("not ok 2 ")
    assert lines[-1].startswith("# Totals: pass:")


def test_junit_names_are_unique(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    junit(results(), out)
    cases = ET.parse(out).getroot().findall("testcase")  # noqa: S314 - our own file
    cases_names = [c.get("name") for c in cases]
    assert len(cases_names) == len(set(cases_names)) == len(results())
    assert any(c.find("failure") is not None for c in cases)
