"""Hostile and broken scenario files: every one ends as a located usage error (exit 2),
in bounded time and memory, with every problem of the file reported at once (issue 15)."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.scenario.discover import load_scenarios
from harness.scenario.parse import MAX_ID_CHARS, parse_scenario
from harness.yamlsource import (
    MAX_INPUT_BYTES,
    MAX_NESTING,
    MAX_NODES,
    MAX_NUMBER_CHARS,
    load_located,
)

VALID = """\
id: t
description: d
filters:
  - deny: CPU_CYCLES
workload:
  events: [CPU_CYCLES]
"""


def write(tmp_path: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(UsageError) as info:
        load_scenarios([path])
    assert info.value.problems
    return [str(p) for p in info.value.problems]


def only_problem(path: Path) -> str:
    (problem,) = problems(path)
    return problem


def validate(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, str]:
    code = main(["validate", *map(str, paths)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# -- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "id: " + "[" * 200 + "]" * 200 + "\n",            # flow nesting (a RecursionError before)
    "id:\n" + "".join(" " * i + "- \n" for i in range(1, 400)),  # block nesting
    "id: " + "[" * 300_000 + "\n",                     # the scanner must stop early, too
])
def test_deep_nesting_is_a_located_error(tmp_path: Path, text: str) -> None:
    started = time.monotonic()
    problem = only_problem(write(tmp_path, text))
    assert f"nested more than {MAX_NESTING}" in problem or f"more than {MAX_NESTING} deep" \
        in problem
    assert problem.startswith(f"{tmp_path / 's.yaml'}:")
    assert time.monotonic() - started < 5


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # 555 bytes that expanded to 5.5 GB and ended as exit 1 (MemoryError) before.
    bomb = "a: &x0 [1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    path = write(tmp_path, bomb + "id: *x8\n")
    tracemalloc.start()
    try:
        code, err = validate(capsys, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    assert f"more than {MAX_NODES} values once aliases are expanded" in err
    assert f"{path}:" in err
    assert peak < 50 << 20


def test_aliases_nested_through_each_other_count_as_nesting(tmp_path: Path) -> None:
    chain = "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 60))
    assert "once aliases are expanded" in only_problem(write(tmp_path, chain))


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    assert "contains it" in only_problem(write(tmp_path, "a: &a [*a]\n"))


@pytest.mark.parametrize("line", [
    "  loops: " + "9" * 5000,                    # past Python's 4300-digit conversion limit
    "  loops: 0x" + "f" * 5000,
    "  loops: '" + "9" * 5000 + "'",
])
def test_integers_past_the_digit_limit(tmp_path: Path, line: str) -> None:
    problem = only_problem(write(tmp_path, VALID + line + "\n"))
    assert ":7: " in problem and str(MAX_NUMBER_CHARS) in problem


def test_huge_integers_in_errnos_and_id(tmp_path: Path) -> None:
    text = VALID.replace("id: t", "id: " + "1" * 5000) + "expect:\n  errnos: [0x" + "f" * 900 \
        + "]\n"
    found = problems(write(tmp_path, text))
    assert [p.split(":")[1] for p in found] == ["1", "8"]
    assert "5000 characters" in found[0] and "unknown errno '0xffff" in found[1]


def test_oversized_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "#" * MAX_INPUT_BYTES)
    assert f"larger than {MAX_INPUT_BYTES} bytes" in only_problem(path)


def test_long_id(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("id: t", "id: " + "a" * (MAX_ID_CHARS + 1)))
    assert f"at most {MAX_ID_CHARS}" in only_problem(path)


# -- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ['"010"', "010", "'00'"])
def test_decimal_with_a_leading_zero(tmp_path: Path, value: str) -> None:
    # The pattern accepted "010" and int("010", 0) raised ValueError; YAML reads an
    # unquoted 010 as octal 8.
    problem = only_problem(write(tmp_path, VALID.replace("deny: CPU_CYCLES", f"deny: {value}")))
    assert ":4: " in problem and "leading zero" in problem


def test_unhashable_mapping_key(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, VALID + "? [x]\n: 1\n"))
    assert ":7: " in problem and "mapping key must be a plain value" in problem


@pytest.mark.parametrize(("value", "message"), [
    ("2001-13-45", "not a valid timestamp"), ("!!bool maybe", "not a valid bool"),
    ("!!int x", "not a valid int"), ("!!float x", "not a valid float"),
    ("!!timestamp x", "not a valid timestamp"), ("!!int [1]", "expected a number"),
    ("!!map [1]", "expected a mapping"), ("!!seq {a: 1}", "expected a sequence"),
])
def test_values_pyyaml_cannot_build(tmp_path: Path, value: str, message: str) -> None:
    # ValueError, KeyError, AttributeError, AssertionError escaped PyYAML's constructors.
    problem = only_problem(write(tmp_path, f"id: {value}\n"))
    assert ":1: " in problem and message in problem


def test_merge_key_then_an_override_is_legal_yaml(tmp_path: Path) -> None:
    text = ("base: &b {events: [CPU_CYCLES], loops: 5}\n"
            + VALID.replace("workload:\n  events: [CPU_CYCLES]\n",
                            "workload:\n  <<: *b\n  events: [INST_RETIRED]\n"))
    doc = load_located(write(tmp_path, text))
    assert doc["workload"] == {"events": ["INST_RETIRED"], "loops": 5}
    # The same key twice in one mapping is still a mistake.
    problem = only_problem(write(tmp_path, text + "  events: [CPU_CYCLES]\n", "dup.yaml"))
    assert ":9: " in problem and "duplicate key 'events'" in problem


def test_vcpus_zero_is_one_problem_not_many(tmp_path: Path) -> None:
    text = VALID.replace("id: t", "id: t\nvcpus: 0\nno_pmu_vcpus: [1]").replace(
        "  - deny: CPU_CYCLES", "  - init: 1\n  - deny: CPU_CYCLES\n    vcpu: 1")
    problem = only_problem(write(tmp_path, text))
    assert ":2: " in problem and "vcpus: 0 is outside 1..8" in problem


# -- where: file and line ---------------------------------------------------------------


def test_control_characters_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("description: d", "description: a\x1b[31mb\x07"))
    problem = only_problem(path)
    assert problem.startswith(f"{path}:2: control character U+001B")
    assert "<unicode string>" not in problem


def test_bytes_that_are_not_utf8_are_located_on_every_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.encode().replace(b"description: d", b"description: \xff")
                 + b"# \xc3\n")
    found = problems(path)
    assert found == [f"{path}:2: not UTF-8: byte 0xff", f"{path}:7: not UTF-8: byte 0xc3"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_do_not_shift_line_numbers(tmp_path: Path,
                                                           separator: str) -> None:
    # YAML counts these as line breaks; editors and grep -n do not.
    text = (f'id: t\ndescription: "a{separator}b"\nfilters: none\n'
            "workload: {loops: x, cycle_counter: true}\ntags: []\n")
    problem = only_problem(write(tmp_path, text))
    assert ":4: " in problem and "workload loops" in problem


def test_duplicate_id_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, "# the same id again\n" + VALID, "b.yaml")
    problem = only_problem(tmp_path)
    assert problem.startswith(f"{tmp_path / 'b.yaml'}:2: id 't' is already used")


def test_symlink_loop_is_not_no_such_file(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    assert "symbolic links" in only_problem(loop)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "loop.yaml").symlink_to(folder / "loop.yaml")
    problem = only_problem(folder)
    assert "symbolic links" in problem and "no such file" not in problem


# -- what is read at all ----------------------------------------------------------------


def test_dev_zero_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = validate(capsys, Path("/dev/zero"))
    assert code == 2 and "/dev/zero: not a regular file" in err


def test_a_fifo_named_yaml_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.extend(problems(fifo)), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert found == [f"{fifo}: not a regular file: a YAML file must be a regular file"]


def test_a_directory_without_scenarios_is_an_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, err = validate(capsys, tmp_path)
    assert code == 2 and "no scenario files" in err


def test_a_yaml_named_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    assert "a directory" in only_problem(tmp_path)


# -- every problem of a file --------------------------------------------------------------

# Each line marked with a count holds that many independent problems.
EVERY_PROBLEM = """\
id: Bad_Id                                  # 1
description: ""                             # 1
tags:
  - ok
  - 3                                       # 1
  - [x]                                     # 1
machines: [max, nosuch]                     # 1
kernels: nope                               # 1
modes: [probe, fast]                        # 1
vcpus: 9                                    # 1
no_pmu_vcpus: [1, x]                        # 1
control: maybe                              # 1
colour: red                                 # 1
filters:
  - deny: NOSUCH                            # 1
  - deny: 0x11
    vcpu: x                                 # 1
  - allow: "010"                            # 1
  - raw: {base: x, nevents: 0x10000, action: 300}  # 3
  - allow: {base: NOSUCH, nevents: -1}      # 2
  - deny: BADA-BADB                         # 2
  - init: 99                                # 1
workload:
  events: [CPU_CYCLES, NOPE, 0x10000]       # 2
  cycle_counter: 1                          # 1
  loops: 0                                  # 1
expect:
  errnos: [OK, EWHAT, 7]                    # 2
  pmceid_present: [1, NOPE, NOPE]           # 2
  pmceid_absent: [x1]                       # 1
  counting: [cycle_counter, NOPE, NOPE]     # 2
  not_counting: [0x10000]                   # 1
  bogus: 1                                  # 1
"""


def test_every_independent_problem_is_reported(tmp_path: Path) -> None:
    found = problems(write(tmp_path, EVERY_PROBLEM))
    expected = {number: int(line.rsplit("# ", 1)[1])
                for number, line in enumerate(EVERY_PROBLEM.splitlines(), start=1)
                if "# " in line}
    per_line: dict[int, int] = {}
    for problem in found:
        line = int(problem.split(":")[1])
        per_line[line] = per_line.get(line, 0) + 1
    assert per_line == expected, "\n".join(found)
    assert len(found) == sum(expected.values()) == 35


def test_a_list_keeps_going_after_its_first_bad_item(tmp_path: Path) -> None:
    text = VALID + "tags:\n  - 1\n  - ok\n  - 2\nexpect:\n  pmceid_absent: [X, 1, Y]\n"
    found = problems(write(tmp_path, text))
    assert [p.split(":")[1] for p in found] == ["8", "10", "12", "12"]


def test_parse_scenario_and_validate_agree(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert parse_scenario(path).id == "t"
    assert [s.id for s in load_scenarios([path])] == ["t"]
