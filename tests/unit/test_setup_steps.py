"""The VM-setup steps (issue 22): the guest's PMUVer written by the VMM, KVM_HAS_DEVICE_ATTR
of FILTER, and PMU INIT without the IRQ. Their scenario syntax, their filter-file lines, what
the oracle predicts on each kernel (written by hand from the kernel history and the
measured runs, never computed by the oracle), and the verdict on real probe output
(tests/data/probe-runs) and on copies changed the way a broken kernel would print them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import UsageError
from harness.filterfile import parse, render
from harness.kernelrules import KernelVersion, rules_for
from harness.observation import observation_from_json, observation_to_json, parse_probe_output
from harness.oracle import PmuModel, Prediction, predict
from harness.paths import CONFIGS_DIR, SCENARIOS_DIR
from harness.results import Outcome
from harness.review.judging import family
from harness.scenario.discover import load_scenarios
from harness.scenario.model import HasAttrStep, InitStep, PmuVerStep, Step, Workload
from harness.scenario.parse import parse_scenario
from harness.verdict import Verdict, judge

RUNS = Path(__file__).parent.parent / "data" / "probe-runs"
SCENARIOS = {s.id: s for s in load_scenarios([SCENARIOS_DIR])}
VERSIONS = {"5.10": "5.10.223", "6.1": "6.1.192", "6.12": "6.12.118"}
HAS_ATTR = "KVM_HAS_DEVICE_ATTR(FILTER) on vCPU 0"

SCENARIO = """\
id: t
description: d
vcpus: 2
filters:
{filters}
workload:
  events: [CPU_CYCLES]
"""


def write(tmp_path: Path, filters: str, extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(extra + SCENARIO.format(filters=filters))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(UsageError) as info:
        parse_scenario(path)
    return [str(p) for p in info.value.problems]


# -- the scenario language ----------------------------------------------------------------


def test_the_setup_steps_parse(tmp_path: Path) -> None:
    path = write(tmp_path, "  - pmuver: 0x1\n  - has_attr: 1\n"
                           "  - init: {vcpu: 1, irq: false}\n  - init: {vcpu: 0}\n")
    steps = parse_scenario(path).steps
    assert steps == (PmuVerStep(1, 5), HasAttrStep(1, 6), InitStep(1, 7, irq=False),
                     InitStep(0, 8, irq=True))


@pytest.mark.parametrize(("filters", "extra", "message"), [
    ("  - pmuver: 0x2", "", "s.yaml:5: pmuver: only 0x1 (PMUv3 for ARMv8.0) can be written, "
                            "got 0x2"),
    ("  - pmuver: 0x10", "", "s.yaml:5: pmuver: 0x10 is outside 0x0..0xf"),
    ("  - init: 0\n  - pmuver: 1", "", "s.yaml:6: pmuver: must come before every init, run "
                                       "and set_pmu step (line 5 has PMU init of vCPU 0)"),
    ("  - pmuver: 1\n  - pmuver: 1", "", "s.yaml:6: pmuver: written twice (first on line 5)"),
    ("  - pmuver: 1", "no_pmu_vcpus: [1]\n", "s.yaml:6: pmuver: not with no_pmu_vcpus"),
    ("  - pmuver: 1\n    vcpu: 1", "", "s.yaml:6: pmuver: `vcpu:` does not belong to it"),
    ("  - init: {vcpu: 1, irq: 0}", "", "s.yaml:5: init irq: expected true or false, got 0"),
    ("  - init: {vcpu: 2}", "", "s.yaml:5: init vCPU: 0x2 is outside 0x0..0x1"),
    ("  - init: {vcpu: 1, irc: false}", "", "s.yaml:5: init: unknown key 'irc'"),
    ("  - init: {vcpu: 1, irq: false}\n  - run: 1", "",
     "s.yaml:6: run: vCPU 1 must have its PMU initialised first"),
    ("  - has_attr: 2", "", "s.yaml:5: has_attr vCPU: 0x2 is outside 0x0..0x1"),
])
def test_every_misuse_is_located(tmp_path: Path, filters: str, extra: str,
                                 message: str) -> None:
    found = problems(write(tmp_path, filters, extra))
    assert any(p.startswith(f"{tmp_path}/{message}") for p in found), found


def test_linux_mode_cannot_run_them(tmp_path: Path) -> None:
    path = write(tmp_path, "  - has_attr: 0", "modes: [linux]\n")
    assert any("linux mode cannot run ordering steps" in p for p in problems(path))


# -- the filter file ------------------------------------------------------------------------


def test_the_filter_file_carries_them_and_the_control_keeps_only_the_pmuver() -> None:
    scenario = SCENARIOS["guest-pmuver-lowered"]
    text = render(scenario)
    assert "\npmuver 0x1\nfilter 0 0x400 1 deny" in text
    assert parse(text).steps == tuple(
        type(s)(**{**s.__dict__, "line": n}) for s, n in zip(scenario.steps, (4, 5),
                                                               strict=True))
    control = render(scenario, with_filters=False)
    assert "pmuver 0x1\n" in control and "\nfilter " not in control
    init = render(SCENARIOS["init-without-pmu-feature"])
    assert "\ninit 1 no-irq\n" in init
    assert parse(init).steps == (InitStep(1, 5, irq=False),)
    assert "\nhas-attr 0\nhas-attr 1\n" in render(SCENARIOS["has-filter-attr"])


@pytest.mark.parametrize(("line", "message"), [
    ("init 0 irq", ":2: init option 'irq' is not no-irq"),
    ("init 0 no-irq 1", ":2: 'init' takes 1 or 2 argument(s), got 3"),
    ("pmuver 16", ":2: PMUVer '16' is not a number in 0..15"),
    ("has-attr", ":2: 'has-attr' takes 1 argument(s), got 0"),
])
def test_the_python_reader_refuses_what_the_c_reader_does(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse(f"pmu-harness-filter 1\n{line}\n")


# -- the oracle, by hand ----------------------------------------------------------------------


def pmu_of(machine: str) -> PmuModel:
    data = yaml.safe_load((CONFIGS_DIR / "machines" / f"{machine}.yaml").read_text())["pmu"]
    return PmuModel(int(data["event_bits"]), int(data["host_pmceid0"]),
                    int(data["host_pmceid1"]), frozenset(data["counting_events"]))


def run(steps: list[Step], kernel: str, revision: str | None = None, *, machine: str = "max",
        no_pmu: tuple[int, ...] = (), events: tuple[int, ...] = (0x11,)) -> Prediction:
    return predict(pmu=pmu_of(machine), rules=rules_for(KernelVersion.parse(kernel), revision),
                   steps=steps, workload=Workload(events, True, 100), vcpus=2,
                   no_pmu_vcpus=no_pmu)


def errnos(p: Prediction) -> list[str]:
    return [o.errno for o in p.steps if not o.implicit]


# (kernel, revision): INIT without the IRQ on a vCPU without PMUv3, HAS_DEVICE_ATTR on
# vCPU 0 and on that vCPU, as measured (docs/coverage.rst).
KERNELS = [("5.10.223", "base", "ENXIO", "ENXIO", "ENXIO"),
           ("5.10.223", "v1", "ENODEV", "OK", "ENXIO"),
           ("5.10.223", "v2", "ENODEV", "OK", "ENXIO"),
           ("5.10.223", "v3", "ENODEV", "OK", "ENXIO"),
           ("5.10.223", None, "ENODEV", "OK", "ENXIO"),
           ("6.1.192", None, "ENODEV", "OK", "ENXIO"),
           ("6.12.118", None, "ENXIO", "OK", "OK"),
           ("7.3.0", None, "ENXIO", "OK", "OK")]


@pytest.mark.parametrize(("kernel", "revision", "init", "attr0", "attr1"), KERNELS)
def test_init_without_irq_and_has_attr_on_each_kernel(kernel: str, revision: str | None,
                                                      init: str, attr0: str,
                                                      attr1: str) -> None:
    p = run([InitStep(1, 1, irq=False), HasAttrStep(0, 2), HasAttrStep(1, 3)], kernel,
            revision, no_pmu=(1,))
    assert errnos(p) == [init, attr0, attr1]
    assert p.has_filter_attr is (attr0 == "OK")
    # With its IRQ set first, INIT on that vCPU is ENODEV everywhere until 6.7 (the IRQ's).
    with_irq = run([InitStep(1, 1)], kernel, revision, no_pmu=(1,))
    assert errnos(with_irq) == ["OK" if kernel >= "6.12" else "ENODEV"]


def test_init_without_irq_on_a_vcpu_with_the_pmu_is_enxio_and_leaves_nothing() -> None:
    for kernel, revision, *_ in KERNELS:
        p = run([InitStep(1, 1, irq=False), InitStep(1, 2)], kernel, revision)
        assert errnos(p) == ["ENXIO", "OK"]
        assert p.initialised == frozenset({0, 1})
    # Refused and never retried: the VMM does not init it behind the scenario's back.
    alone = run([InitStep(1, 1, irq=False)], "6.1.192")
    assert alone.initialised == frozenset({0}) and not alone.measured_on(1)


def test_has_filter_attr_follows_vcpu0() -> None:
    assert run([], "6.1.192").has_filter_attr
    assert not run([], "6.1.192", no_pmu=(0,)).has_filter_attr
    # VM-wide features: a VM whose first vCPU has no PMUv3 has none on any vCPU.
    no_pmu_vm = run([HasAttrStep(1, 1)], "6.12.118", no_pmu=(0,))
    assert not no_pmu_vm.has_filter_attr and errnos(no_pmu_vm) == ["ENXIO"]


@pytest.mark.parametrize(("kernel", "revision", "write", "bits", "counts_0x411"), [
    # Unlowered on max, 0x411 stays an event of its own, which QEMU never counts: it reads 0
    # (measured on 5.10.223 and 6.1.192), unlike its 10-bit alias CPU_CYCLES.
    ("5.10.223", "base", "EINVAL", 16, False),
    ("5.10.223", "v3", "EINVAL", 16, False),
    ("6.1.192", None, "EINVAL", 16, False),
    ("6.2.0", None, "OK", 16, False),      # writable, but the mask is still the hardware's
    ("6.6.0", None, "OK", 10, True),
    ("6.12.118", None, "OK", 10, True),
])
def test_pmuver_on_max(kernel: str, revision: str | None, write: str, bits: int,
                       counts_0x411: bool | None) -> None:
    deny_0x400 = FilterFromText.deny(0x400)
    p = run([PmuVerStep(1, 1), deny_0x400], kernel, revision, events=(0x11, 0x411))
    filter_ok = "ENXIO" if revision == "base" else "OK"  # 16-bit hardware: 0x400 fits
    assert errnos(p) == [write, filter_ok]
    assert p.guest_event_bits == bits
    assert p.guest_pmuver == (1 if write == "OK" else None)
    assert {c.ref: c.counts for c in p.counters}["0x0411"] is counts_0x411


def test_pmuver_on_cortex_a57_is_the_same_value_everywhere() -> None:
    for kernel, revision, *_ in KERNELS:
        p = run([PmuVerStep(1, 1)], kernel, revision, machine="cortex-a57")
        assert errnos(p) == ["OK"] and p.guest_event_bits == 10 and p.guest_pmuver == 1


def test_a_lowered_guest_obeys_0x11s_bit_for_0x411() -> None:
    p = run([PmuVerStep(1, 1), FilterFromText.deny(0x11)], "6.12.118", events=(0x411,))
    assert {c.ref: c.counts for c in p.counters} == {"0x0411": False, "cycle_counter": False}
    # A 0x400-0x7ff range does not touch it: the lookup is on 0x11's bit.
    q = run([PmuVerStep(1, 1), FilterFromText.deny(0x400, 0x400)], "6.12.118",
            events=(0x411,))
    assert {c.ref: c.counts for c in q.counters}["0x0411"] is True


class FilterFromText:
    """Filter calls as a filter file spells them (the parser's own values, not the
    oracle's)."""

    @staticmethod
    def deny(base: int, nevents: int = 1) -> Step:
        (step,) = parse(f"pmu-harness-filter 1\nvcpus 2\nfilter 0 {base:#x} {nevents} deny\n"
                        ).steps
        return step


# -- the verdict on real output -----------------------------------------------------------------


def raw(ident: str, kernel_machine: str, label: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RUNS / ident / f"{kernel_machine}.{label}.json")
                                      .read_text())
    return data


def verdict(ident: str, kernel_machine: str, filtered: dict[str, Any] | None = None, *,
            judged_as: str | None = None) -> Verdict:
    scenario = SCENARIOS[ident]
    kernel, machine = kernel_machine.split("-", 1)
    prediction = predict(pmu=pmu_of(machine),
                         rules=rules_for(KernelVersion.parse(VERSIONS[judged_as or kernel])),
                         steps=scenario.steps, workload=scenario.workload,
                         vcpus=scenario.vcpus, no_pmu_vcpus=scenario.no_pmu_vcpus)
    seen = parse_probe_output(json.dumps(filtered or raw(ident, kernel_machine, "filtered")))
    control = parse_probe_output(json.dumps(raw(ident, kernel_machine, "control")))
    return judge(scenario, prediction, seen, control)


def failed(v: Verdict) -> set[str]:
    return {c.name for c in v.checks if c.outcome is Outcome.FAIL}


def test_what_the_kernels_answered() -> None:
    def steps(ident: str, kernel_machine: str) -> list[tuple[str, str]]:
        return [(s["op"], s["error"] or "OK") for s in raw(ident, kernel_machine, "filtered")
                ["steps"] if not s["implicit"]]

    assert steps("guest-pmuver-lowered", "5.10-max") == [("pmuver", "EINVAL"),
                                                         ("filter", "OK")]
    assert steps("guest-pmuver-lowered", "6.1-max") == [("pmuver", "EINVAL"), ("filter", "OK")]
    assert steps("guest-pmuver-lowered", "6.12-max") == [("pmuver", "OK"), ("filter", "OK")]
    assert steps("guest-pmuver-lowered", "5.10-cortex-a57") == [("pmuver", "OK"),
                                                                ("filter", "EINVAL")]
    lowered = raw("guest-pmuver-lowered", "6.12-max", "filtered")
    assert lowered["measurement"]["pmuver"] == 1 and lowered["steps"][0]["pmuver_before"] == 6
    assert [c["value"] > 0 for c in lowered["measurement"]["counters"]] == [True, True]
    assert steps("init-without-pmu-feature", "5.10-max") == [("init", "ENODEV")]
    assert steps("init-without-pmu-feature", "6.12-max") == [("init", "ENXIO")]
    assert steps("has-filter-attr", "6.1-max")[:2] == [("has-attr", "OK"), ("has-attr", "ENXIO")]
    assert steps("has-filter-attr", "6.12-max")[:2] == [("has-attr", "OK"), ("has-attr", "OK")]


def test_a_kernel_that_hides_the_filter_attribute_fails_every_probe_case() -> None:
    # What mutant has-attr-hides-filter prints: has_filter_attr false, everything else as is.
    for ident in ("init-without-irq", "guest-pmuver-lowered", "has-filter-attr"):
        hidden = raw(ident, "6.12-max", "filtered")
        assert hidden["has_filter_attr"] is True
        assert verdict(ident, "6.12-max").outcome is Outcome.PASS
        hidden["has_filter_attr"] = False
        assert HAS_ATTR in failed(verdict(ident, "6.12-max", hidden))


def test_a_kernel_that_ignores_the_guests_pmuver_fails() -> None:
    # What mutant guest-pmuver-ignored prints on 6.12: the 0x411 counter stays at 0.
    ignored = raw("guest-pmuver-lowered", "6.12-max", "filtered")
    for view in (ignored["measurement"], *ignored["measurements"]):
        view["counters"][1]["value"] = 0
    assert failed(verdict("guest-pmuver-lowered", "6.12-max", ignored)) == {"counter 0x0411"}


def test_6_1s_answers_judged_as_6_12_fail_on_the_write_and_the_odd_vcpu() -> None:
    assert failed(verdict("guest-pmuver-lowered", "6.1-max", judged_as="6.12")) == {
        "errno of PMUVer write, line 14: ID_AA64DFR0_EL1.PMUVer set to 0x1 on every vCPU",
        "guest ID_AA64DFR0_EL1.PMUVer", "counter 0x0411", "guest PMCEID0"}
    # (6.1's guest PMCEID0 also lacks CHAIN, which 6.2 added.)
    assert failed(verdict("init-without-pmu-feature", "6.1-max", judged_as="6.12")) == {
        "errno of init step, line 14: PMU init of vCPU 1 without its IRQ", "guest PMCEID0"}
    assert failed(verdict("has-filter-attr", "6.1-max", judged_as="6.12")) >= {
        "answer of HAS_DEVICE_ATTR step, line 15: HAS_DEVICE_ATTR(FILTER) on vCPU 1"}


def test_review_names_the_behaviour_of_each_new_check() -> None:
    names = {c.name for c in verdict("has-filter-attr", "6.1-max").checks}
    names |= {c.name for c in verdict("guest-pmuver-lowered", "6.12-max").checks}
    names |= {c.name for c in verdict("init-without-irq", "6.1-max").checks}
    new = {n for n in names if "HAS_DEVICE_ATTR" in n or "PMUVer" in n or "init step" in n}
    # vCPU 0's attribute, 2 has_attr steps, the PMUVer write and the guest's read, 2 inits
    assert len(new) == 7
    assert {family(n)[0] for n in new} == {"has-attr", "pmuver", "init-errno"}


def test_the_observation_keeps_the_new_facts_for_review() -> None:
    seen = parse_probe_output(json.dumps(raw("guest-pmuver-lowered", "6.12-max", "filtered")))
    assert seen.has_filter_attr is True and seen.pmuver == 1
    again = observation_from_json(json.loads(json.dumps(observation_to_json(seen))))
    assert again == seen
    # observed.json written before these were recorded still reads.
    old = observation_to_json(seen)
    del old["has_filter_attr"], old["pmuver"]
    assert observation_from_json(old).has_filter_attr is None
