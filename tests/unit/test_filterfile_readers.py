"""The filter file has two readers: the probe's (C, guest-images/probe/filterfile.c) and the
harness's (Python, harness/filterfile.py). The C one's unit test runs here, built with the
sanitizers, and both readers must take and refuse the same files (issue 15)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.filterfile import parse
from harness.paths import GUEST_IMAGES_DIR
from tests.fuzz import Rng, filter_seeds, inputs

PROBE = GUEST_IMAGES_DIR / "probe"
SANITIZERS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all")


@pytest.fixture(scope="module")
def c_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no host C compiler")
    binary = tmp_path_factory.mktemp("c") / "test-filterfile"
    command = [compiler, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", *SANITIZERS,
               "-o", str(binary), str(PROBE / "tests" / "test_filterfile.c"),
               str(PROBE / "filterfile.c")]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if built.returncode != 0 and "sanitize" in built.stderr:
        command = [word for word in command if word not in SANITIZERS]
        built = subprocess.run(command, capture_output=True, text=True, timeout=120,
                               check=False)
    assert built.returncode == 0, built.stderr
    return binary


def test_the_c_reader_passes_its_unit_test(c_reader: Path) -> None:
    done = subprocess.run([str(c_reader)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "all tests passed" in done.stdout


def _python_verdict(data: bytes) -> tuple[str, int | None]:
    try:
        parsed = parse(data.decode("utf-8", errors="surrogateescape"))
    except UsageError as exc:
        return "error", exc.problems[0].line
    return "ok", len(parsed.steps)


def _c_verdict(line: str) -> tuple[str, int | None]:
    kind, _, rest = line.partition(" ")
    if kind == "ok":
        return "ok", int(rest)
    if "end of file before" in rest:
        return "error", None  # the Python reader names no line for a missing header
    return "error", int(rest.split(":", 1)[0].removeprefix("line "))


def test_both_readers_take_and_refuse_the_same_files(c_reader: Path, tmp_path: Path) -> None:
    files = []
    for index, data in enumerate(inputs(Rng(7), filter_seeds(), 1500)):
        path = tmp_path / f"{index}.filter"
        path.write_bytes(data)
        files.append((path, data))
    done = subprocess.run([str(c_reader), *(str(p) for p, _ in files)], capture_output=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    # One line per file; messages quote tokens, which may hold \v or \x85: split at \n only.
    lines = done.stdout.decode(errors="replace").split("\n")[:-1]
    assert len(lines) == len(files)
    differ = [(data, line) for (_, data), line in zip(files, lines, strict=True)
              if _python_verdict(data) != _c_verdict(line)]
    assert not differ, "\n".join(f"{d[:200]!r}: C {line!r}, Python {_python_verdict(d)}"
                                 for d, line in differ[:5])
