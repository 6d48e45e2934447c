"""Fuzzing the readers of everything handed to the harness from outside.

Four targets, each fed mutations of real inputs plus hand-made hostile ones:

- ``scenario``: scenario YAML through ``load_scenarios`` (what ``validate`` and ``run`` use);
- ``filterfile``: filter files through ``harness.filterfile.parse`` (the Python twin of the
  probe's C reader);
- ``results``: ``results.json`` files through ``load_results`` and what ``report`` does next;
- ``bundle``: ``bundle.json`` through ``read_bundle`` and what ``rerun`` reads before it boots.

The only exception a reader may raise is the harness's own ``UsageError``: anything else is
a traceback for the user. The same generator drives the quick test in the unit suite
(``tests/unit/test_fuzz.py``) and the long run in ``bench/fuzz_inputs.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from harness.bundle import BUNDLE_FILE, MACHINES_SUBDIR, SCENARIO_FILE, read_bundle
from harness.commands.report import merge_meta
from harness.commands.rerun import refuse_bundle_host_paths
from harness.errors import UsageError
from harness.filterfile import parse, render
from harness.machine.profile import MACHINES_DIR, load_machine_profile
from harness.paths import GUEST_IMAGES_DIR, SCENARIOS_DIR
from harness.reports import full_table
from harness.reports.html import render_html
from harness.reports.ktap import ktap
from harness.results import load_results
from harness.scenario.discover import load_scenario, load_scenarios

log = logging.getLogger(__name__)
SEED = 20261201
DATA = Path(__file__).parent / "data"

# Text that breaks readers: structure, YAML features, numbers past every limit, characters
# that end lines for some readers and not for others, escape sequences.
TOKENS = [
    b"[", b"]", b"{", b"}", b",", b": ", b"- ", b"? ", b"&a ", b"*a", b"<<: *a", b"!!set ",
    b"!!binary ", b"!!python/object:os.system ", b"!!int ", b"!!bool ", b"!!float ",
    b"!!timestamp ", b"!!omap ", b"!!str ", b"!!map ", b"!!seq ", b"%YAML 1.1\n", b"---\n",
    b"...\n", b"~", b"null",
    b"true", b"-1", b"0x", b"0x1_0", b"010", b"0b101", b"1:30:00", b"2001-13-45", b"1e400",
    b".nan", b"-.inf", b"9" * 5000, b"0x" + b"f" * 5000, b'"', b"'", b"#", b"\t", b"\r",
    b"\r\n", b"\n", b"    ", b"\x00", b"\x1b[31m", b"\x07", b"\xc2\x85", b"\xe2\x80\xa8",
    b"\xe2\x80\xa9", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\\", b"\\e", b"\\u2028", b"|\n",
    b">-\n", b"deny: ", b"allow: ", b"raw: {base: 1, nevents: 1, action: 1}", b"vcpu: 7",
    b"vcpus: 0", b"init: 9", b"run: ", b"filter 0 0x11 1 deny\n", b"workload - cycles=1\n",
    b"no-pmu-vcpu 7\n", b"measure 0 1\n", b"set-pmu 0 host\n", b"set_pmu: 1", b"pmu: other",
    b"measure: all", b"pmceid0: 0x20001",
    b"pmu-harness-filter 1\n", b"NaN", b"Infinity", b"1" * 5000,
    b'"results": ', b'"checks": [', b"[" * 3000, b"{\"a\":" * 3000,
    # Values a scenario expects, so that mutants also get past the types into the checks.
    b"CPU_CYCLES", b"INST_RETIRED", b"0x11", b"[CPU_CYCLES, 0x08]", b"derive", b"none",
    b"[OK, EBUSY]", b"cycle_counter", b"'0x20-0x3f'", b"SW_INCR-CPU_CYCLES", b"[probe, linux]",
    b"{base: 0x11, nevents: 0}", b"[1]", b"[0]", b"8", b"65535", b"0x10000", b"[max]",
    b'"error_class": ', b'"timeout"', b'"canceled"',
]


def _hostile_scenarios() -> list[bytes]:
    bomb = b"a: &x0 [1,1,1,1,1,1,1,1,1]\n" + b"".join(
        b"x%d: &x%d [" % (i, i) + b",".join([b"*x%d" % (i - 1)] * 9) + b"]\n"
        for i in range(1, 9)) + b"id: *x8\n"
    chain = b"a0: &a0 {x: 1}\n" + b"".join(b"a%d: &a%d {<<: *a%d}\n" % (i, i, i - 1)
                                          for i in range(1, 60))
    return [
        b"id: " + b"[" * 200 + b"]" * 200 + b"\n", bomb, chain, b"? [x]\n: 1\n",
        b"id: t\ndescription: d\nfilters:\n  - deny: \"010\"\nworkload: {events: [1]}\n",
        b"id: t\ndescription: d\nfilters: none\nworkload:\n  loops: " + b"9" * 5000 + b"\n",
        b"id: t\ndescription: \"\\e[31mred\"\nfilters: none\nworkload: {cycle_counter: true}\n",
        b"id: t\r\ndescription: \xff\xfe\nfilters: none\n", b"a: \xe2\x80\xa8 1\nb: [\n",
        b"base: &b {events: [CPU_CYCLES]}\nid: t\ndescription: d\nfilters: none\n"
        b"workload:\n  <<: *b\n  events: [INST_RETIRED]\n",
        b"", b"# nothing\n", b"--- 1\n--- 2\n", b"a: &a [*a]\n", b"id: !!timestamp 2001-13-45\n",
    ]


def scenario_seeds() -> list[bytes]:
    files = sorted(SCENARIOS_DIR.glob("*.yaml")) + sorted((DATA / "broken").glob("*.yaml"))
    return [f.read_bytes() for f in files] + _hostile_scenarios()


def filter_seeds() -> list[bytes]:
    scenarios = load_scenarios([SCENARIOS_DIR])
    rendered = [render(s, with_filters=w).encode() for s in scenarios for w in (True, False)]
    testdata = GUEST_IMAGES_DIR / "probe" / "testdata"
    files = sorted(testdata.glob("filters/*.flt")) + sorted(testdata.glob("preload/filters/*"))
    return rendered + [f.read_bytes() for f in files]


# The optional "error_class" key of a result that needs a look (harness.results.ErrorClass).
_ERROR_CLASSES = {"fail": "kernel-failure", "error": "harness-bug",
                  "inconclusive": "infrastructure"}


def _result(index: int, outcome: str) -> dict[str, object]:
    return {"name": f"s{index}[max,debian-6.1,probe]", "scenario": f"s{index}",
            "machine": "max", "kernel": "debian-6.1", "mode": "probe", "tags": ["t"],
            "result": outcome, "reason": "r", "kernel_version": "6.1.1", "seconds": 1.5,
            "artefacts": "/srv/x", "bundle": None,
            "checks": [{"name": "c", "expected": "0", "observed": "1", "result": outcome,
                        "source": "oracle"}],
            **({"error_class": _ERROR_CLASSES[outcome]} if outcome in _ERROR_CLASSES else {})}


def results_seeds() -> list[bytes]:
    outcomes = ["pass", "fail", "error", "inconclusive", "skip"]
    data = {"meta": {"suite": "nightly", "shard": "1/3", "jobs": 2, "seconds": 12.5,
                     "date": "2026-11-24 21:14 UTC", "run_dir": "results/x"},
            "summary": "verdict: ...",
            "results": [_result(i, o) for i, o in enumerate(outcomes)]}
    return [json.dumps(data, indent=2).encode(), json.dumps(data).encode()]


def bundle_seeds() -> list[bytes]:
    data = {
        "format": 1, "created": "2026-11-24T21:14:11Z",
        "harness": {"version": "0.1.0", "git_commit": None},
        "case": {"name": "member-deny[max,debian-6.1,probe]", "scenario": "member-deny",
                 "machine": "max", "kernel": "debian-6.1", "mode": "probe"},
        "result": _result(0, "fail"),
        "kernel": {"profile": "debian-6.1", "package": "linux-image-6.1.0-1-arm64",
                   "version": "6.1.1-1", "release": "6.1.0-1-arm64", "cache_key": "k" * 16,
                   "image_sha256": "a" * 64, "l1_initrd_sha256": "b" * 64,
                   "local_image": None, "local_modules": None},
        "options": {"kvm_mode": "vhe"},
        "commands": {"l1_qemu": {"command-1-cold.txt": "qemu"}, "l2": {}},
    }
    return [json.dumps(data, indent=2).encode()]


# -- mutation ---------------------------------------------------------------------------

T = TypeVar("T")


class Rng:
    """The mutators' choices, reproducible from a seed: draw n is SHA-256 of (seed, n), the
    same on every host and Python version, so a seed names a run (``--seed``). A hash, not
    the ``random`` module, whose generator ruff (S311) cannot tell from one meant for
    secrets; the fuzzer does not need its speed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._draws = 0

    def randrange(self, stop: int) -> int:
        """A whole number in ``[0, stop)``."""
        if stop <= 0:
            raise ValueError(f"randrange({stop}): empty range")
        digest = hashlib.sha256(f"{self._seed}:{self._draws}".encode()).digest()
        self._draws += 1
        # 256 bits modulo a small number: a bias no mutation could show.
        return int.from_bytes(digest, "big") % stop

    def randint(self, low: int, high: int) -> int:
        """A whole number in ``[low, high]``."""
        return low + self.randrange(high - low + 1)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.randrange(len(items))]



def _splice(rng: Rng, data: bytes, seeds: list[bytes]) -> bytes:
    other = rng.choice(seeds)
    cut, at = rng.randint(0, len(data)), rng.randint(0, len(other))
    return data[:cut] + other[at:]


def _insert_token(rng: Rng, data: bytes, _: list[bytes]) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice(TOKENS) + data[at:]


def _replace_value(rng: Rng, data: bytes, _: list[bytes]) -> bytes:
    """A value after ': ' (YAML, JSON) swapped for a token: type confusion, limits."""
    marks = [i for i in range(len(data) - 1) if data[i:i + 2] == b": "]
    if not marks:
        return _insert_token(rng, data, _)
    start = rng.choice(marks) + 2
    end = data.find(b"\n", start)
    end = len(data) if end < 0 else end
    return data[:start] + rng.choice(TOKENS) + data[end:]


def _byte_noise(rng: Rng, data: bytes, _: list[bytes]) -> bytes:
    buffer = bytearray(data)
    for _round in range(rng.randint(1, 4)):
        at = rng.randint(0, len(buffer))
        action = rng.randrange(3)
        if action == 0 and at < len(buffer):
            buffer[at] ^= 1 << rng.randrange(8)
        elif action == 1:
            buffer[at:at] = bytes([rng.randrange(256)])
        else:
            del buffer[at:at + rng.randint(1, 16)]
    return bytes(buffer)


def _lines(rng: Rng, data: bytes, _: list[bytes]) -> bytes:
    """Duplicate, drop or swap whole lines: keys twice, keys missing, order changed."""
    lines = data.split(b"\n")
    if len(lines) < 2:
        return data + data
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    action = rng.randrange(3)
    if action == 0:
        lines.insert(j, lines[i])
    elif action == 1:
        del lines[i]
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


MUTATORS: list[Callable[[Rng, bytes, list[bytes]], bytes]] = [
    _splice, _insert_token, _replace_value, _byte_noise, _lines,
]


def inputs(rng: Rng, seeds: list[bytes], count: int) -> Iterator[bytes]:
    """Every seed once, then ``count`` mutants (one to three mutations each)."""
    yield from seeds
    for _ in range(count):
        data = rng.choice(seeds)
        for _step in range(rng.randint(1, 3)):
            data = rng.choice(MUTATORS)(rng, data, seeds)
        yield data


# -- targets ----------------------------------------------------------------------------


def feed_scenario(data: bytes, work: Path) -> None:
    path = work / "fuzz.yaml"
    path.write_bytes(data)
    load_scenarios([path])


def feed_filterfile(data: bytes, work: Path) -> None:
    parse(data.decode("utf-8", errors="surrogateescape"), work / "fuzz.filter")


def feed_results(data: bytes, work: Path) -> None:
    path = work / "fuzz-results.json"
    path.write_bytes(data)
    records, metas = load_results([path])
    meta = merge_meta(metas, [path])
    full_table(records, include_skips=True)  # `report` prints the verdict table too
    ktap(records)
    render_html(records, meta, base=work)


def _bundle_dir(work: Path) -> Path:
    """A bundle directory with the real scenario and machine profile; only bundle.json
    changes from one input to the next."""
    directory = work / "bundle"
    if not directory.is_dir():
        (directory / MACHINES_SUBDIR).mkdir(parents=True)
        shutil.copyfile(SCENARIOS_DIR / "member-deny.yaml", directory / SCENARIO_FILE)
        shutil.copyfile(MACHINES_DIR / "max.yaml", directory / MACHINES_SUBDIR / "max.yaml")
    return directory


def feed_bundle(data: bytes, work: Path) -> None:
    directory = _bundle_dir(work)
    (directory / BUNDLE_FILE).write_bytes(data)
    bundle = read_bundle(directory)
    # What `rerun` reads from it before anything boots.
    wanted = bundle.case
    load_scenario(bundle.scenario_file, wanted["scenario"])
    load_machine_profile(wanted["machine"], bundle.machines_dir)
    refuse_bundle_host_paths(bundle.kernel)
    _ = bundle.outcome, bundle.failed_checks  # what rerun's comparison reads


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[], list[bytes]]
    feed: Callable[[bytes, Path], None]


TARGETS = (
    Target("scenario", scenario_seeds, feed_scenario),
    Target("filterfile", filter_seeds, feed_filterfile),
    Target("results", results_seeds, feed_results),
    Target("bundle", bundle_seeds, feed_bundle),
)


@dataclass
class Tally:
    """What a fuzz run found."""

    inputs: int = 0
    refused: int = 0  # located usage errors: the expected answer to a bad input
    tracebacks: list[tuple[str, bytes, str]] = field(default_factory=list)
    slowest: tuple[float, str, bytes] = (0.0, "", b"")


def run_target(target: Target, count: int, work: Path, tally: Tally, seed: int = SEED) -> None:
    """Feed ``target`` its seeds and ``count`` mutants; record anything but a UsageError."""
    rng = Rng(seed)
    for data in inputs(rng, target.seeds(), count):
        started = time.perf_counter()
        try:
            target.feed(data, work)
        except UsageError:
            tally.refused += 1
        except Exception as exc:  # every other exception is the finding
            tally.tracebacks.append((target.name, data, traceback.format_exc()))
            log.debug("%s: a finding", target.name, exc_info=exc)
        took = time.perf_counter() - started
        tally.inputs += 1
        if took > tally.slowest[0]:
            tally.slowest = (took, target.name, data)
