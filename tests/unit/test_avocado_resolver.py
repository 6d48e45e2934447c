"""The avocado front end without booting anything: resolution of scenario files and
directories, bad input, tags, the matrix options, and the runner's result mapping and
deadline (with ``run_group`` stood in for)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from avocado.core.nrunner.runnable import Runnable
from avocado.core.resolver import ReferenceResolution, ReferenceResolutionResult, resolve
from avocado.core.settings import settings
from avocado.core.tags import filter_tags_on_runnables

from harness.avocado_plugins import KIND
from harness.avocado_plugins import runner as avocado_runner
from harness.avocado_plugins.matrix import Matrix, cases
from harness.avocado_plugins.options import matrix_from_config
from harness.avocado_plugins.resolver import ScenarioResolver
from harness.catalog import KERNELS, unknown_name
from harness.errors import UsageError
from harness.paths import PROJECT_ROOT, SCENARIOS_DIR
from harness.plan import Case, Group
from harness.results import CaseResult, Check, Outcome, class_of_outcome
from harness.scenario.discover import load_scenarios

BROKEN = Path(__file__).parent.parent / "data" / "broken"
NO_FILTER = SCENARIOS_DIR / "no-filter.yaml"


def config(**pmu: Any) -> dict[str, Any]:
    """A job config as avocado builds it, with ``pmu_harness.<key>`` overrides."""
    base: dict[str, Any] = settings.as_dict()
    base.update({f"pmu_harness.{key}": value for key, value in pmu.items()})
    return base


def resolve_one(reference: Path | str, **pmu: Any) -> ReferenceResolution:
    return ScenarioResolver(config=config(**pmu)).resolve(str(reference))


def info(resolution: ReferenceResolution) -> str:
    assert resolution.info is not None, resolution
    return resolution.info


def resolve_all(reference: Path, **pmu: Any) -> list[Runnable]:
    """What `avocado run REFERENCE` would run: every resolver plugin, directories walked."""
    resolutions = resolve([str(reference)], config=config(**pmu))
    return [r for res in resolutions if res.result == ReferenceResolutionResult.SUCCESS
            for r in res.resolutions]


def expected_names(matrix: Matrix) -> list[str]:
    return [c.name for c in cases(load_scenarios([SCENARIOS_DIR]), matrix)]


# --- the layering -----------------------------------------------------------------------


def test_only_the_avocado_layer_imports_avocado() -> None:
    imports = re.compile(r"^\s*(from|import)\s+avocado\b", re.MULTILINE)
    offenders = [str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "harness").rglob("*.py")
                 if imports.search(p.read_text())
                 and ("avocado_plugins" not in p.parts or p.name == "matrix.py")]
    assert offenders == []


def test_the_native_cli_works_without_avocado() -> None:
    code = ("import sys; sys.modules['avocado'] = None\n"  # any `import avocado` now fails
            "from harness.cli import main\n"
            "sys.exit(main(['list']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "no-filter" in proc.stdout


# --- resolution -------------------------------------------------------------------------


def test_scenario_file_is_one_runnable_per_case() -> None:
    resolution = resolve_one(NO_FILTER)
    assert resolution.result == ReferenceResolutionResult.SUCCESS
    [runnable] = resolution.resolutions
    assert runnable.kind == KIND
    assert runnable.identifier == "no-filter[max,debian-6.1,probe]"  # as `pmu-harness run`
    assert runnable.uri == str(NO_FILTER.resolve())
    assert runnable.kwargs == {"scenario": "no-filter", "machine": "max",
                               "kernel": "debian-6.1", "mode": "probe", "timeout": 600,
                               "project_path": "testcases/scenarios/no-filter.yaml",
                               "sha256": hashlib.sha256(NO_FILTER.read_bytes()).hexdigest()}


def test_runnable_survives_the_command_line_to_the_runner() -> None:
    # avocado's process spawner passes runnables as `task-run` arguments.
    [runnable] = resolve_one(NO_FILTER, modes=["linux"]).resolutions
    args = runnable.get_command_args()
    kwargs = [a for a in args[args.index("-u") + 2:] if "=" in a and not a.startswith("-")]
    parsed = Runnable.from_args({"kind": KIND, "uri": runnable.uri,
                                 "kwargs": [tuple(a.split("=", 1)) for a in kwargs]})
    assert parsed.kwargs == {**runnable.kwargs, "mode": "linux", "timeout": 1200}
    assert parsed.kwargs["scenario"] == "no-filter"
    assert parsed.tags == runnable.get_serializable_tags()


def test_directories_resolve_recursively_to_the_default_matrix() -> None:
    expected = expected_names(Matrix())
    assert len(expected) >= 18
    for reference in (SCENARIOS_DIR, SCENARIOS_DIR.parent):  # testcases/scenarios, testcases/
        runnables = resolve_all(reference)
        assert [r.identifier for r in runnables] == expected
        assert {r.kind for r in runnables} == {KIND}


def test_matrix_settings_multiply_the_cases() -> None:
    matrix = Matrix(kernels=("debian-6.1", "debian-6.12"), machines=("max", "cortex-a57"),
                    modes=("probe", "linux"))
    runnables = resolve_all(SCENARIOS_DIR, kernels=list(matrix.kernels),
                            machines=list(matrix.machines), modes=list(matrix.modes))
    names = [r.identifier for r in runnables]
    assert sorted(names) == sorted(expected_names(matrix))
    assert "no-filter[cortex-a57,debian-6.12,linux]" in names
    assert "filter-after-init[max,debian-6.1,linux]" not in names  # probe-only scenario


def test_scenario_that_does_not_apply_is_not_found() -> None:
    icount = SCENARIOS_DIR / "inst-retired-icount.yaml"  # machines: [max-icount]
    resolution = resolve_one(icount)
    assert resolution.result == ReferenceResolutionResult.NOTFOUND
    assert "applies to" in info(resolution) and "max" in info(resolution)
    assert resolve_one(icount, machines=["max-icount"]).result == \
        ReferenceResolutionResult.SUCCESS


@pytest.mark.parametrize("name", ["README.rst", "pyproject.toml", "missing.yaml"])
def test_other_files_are_left_to_other_resolvers(name: str) -> None:
    resolution = resolve_one(PROJECT_ROOT / name)
    assert resolution.result == ReferenceResolutionResult.NOTFOUND


def test_invalid_scenario_is_an_error_with_located_problems() -> None:
    resolution = resolve_one(BROKEN / "many-problems.yaml")
    assert resolution.result == ReferenceResolutionResult.ERROR
    assert not resolution.resolutions
    lines = info(resolution).splitlines()
    assert len(lines) >= 10
    assert all(line.startswith(f"{BROKEN / 'many-problems.yaml'}:") for line in lines)
    assert any(":8: deny: unknown event name 'CPU_CYCELS'" in line for line in lines)
    assert "Traceback" not in info(resolution)


def test_invalid_yaml_is_an_error_too() -> None:
    resolution = resolve_one(BROKEN / "bad-yaml.yaml")
    assert resolution.result == ReferenceResolutionResult.ERROR
    assert "bad-yaml.yaml:2: invalid YAML" in info(resolution)


def test_broken_files_in_a_directory_do_not_hide_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(NO_FILTER.read_text())
    (tmp_path / "bad.yaml").write_text((BROKEN / "empty-filters.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a scenario\n")
    resolutions = resolve([str(tmp_path)], config=config())
    ours = {Path(r.reference).name: r for r in resolutions if r.origin == KIND}
    assert ours["good.yaml"].result == ReferenceResolutionResult.SUCCESS
    assert ours["bad.yaml"].result == ReferenceResolutionResult.ERROR
    assert "bad.yaml:3: filters: an empty list is not allowed" in info(ours["bad.yaml"])
    assert ours["notes.txt"].result == ReferenceResolutionResult.NOTFOUND


@pytest.mark.parametrize(("pmu", "message"), [
    # The one message for every unknown name (harness.catalog.unknown_name).
    ({"kernels": ["debian-9"]}, unknown_name("kernel profile", "debian-9", KERNELS.names())),
    ({"machines": ["cortex-a75"]}, unknown_name("machine profile", "cortex-a75",
                                                ("cortex-a57", "max", "max-icount"))),
    ({"modes": ["kvm"]}, unknown_name("L2 mode", "kvm", ("linux", "probe"))),
    ({"kernels": ["local"]}, "--kernel-image"),
    ({"machines": []}, "no machine chosen"),
    ({"timeout": 0}, "timeout must be a positive number"),
])
def test_bad_matrix_is_an_error(pmu: dict[str, Any], message: str) -> None:
    resolution = resolve_one(NO_FILTER, **pmu)
    assert resolution.result == ReferenceResolutionResult.ERROR
    assert message in info(resolution)


# --- tags -------------------------------------------------------------------------------


def tagged(filters: list[str], **pmu: Any) -> list[str]:
    resolutions = [r for r in resolve([str(SCENARIOS_DIR)], config=config(**pmu))
                   if r.origin == KIND]
    return [r.identifier for r in filter_tags_on_runnables(resolutions, filters)]


def test_tags_are_the_scenarios_plus_machine_kernel_mode() -> None:
    [runnable] = resolve_one(SCENARIOS_DIR / "member-deny.yaml").resolutions
    assert runnable.tags == {"selftest-family": None, "masking": None, "cycle-counter": None,
                             "smoke": None, "machine": {"max"}, "kernel": {"debian-6.1"},
                             "mode": {"probe"}}


def test_filter_by_scenario_tag() -> None:
    smoke = {s.id for s in load_scenarios([SCENARIOS_DIR]) if "smoke" in s.tags}
    names = tagged(["smoke"])
    assert names and {n.split("[")[0] for n in names} == smoke
    assert tagged(["smoke,-masking"]) == ["cycle-counter-deny[max,debian-6.1,probe]"]


def test_filter_by_machine_kernel_mode_tags() -> None:
    matrix = {"kernels": ["debian-6.1", "debian-6.12"], "machines": ["max", "cortex-a57"],
              "modes": ["probe", "linux"]}
    names = tagged(["kernel:debian-6.12,machine:cortex-a57,mode:linux"], **matrix)
    assert names and all(n.endswith("[cortex-a57,debian-6.12,linux]") for n in names)
    # A kernel tag keeps exactly that kernel's cases (a scenario may apply to one only).
    everything = tagged(["kernel:debian-6.1", "kernel:debian-6.12"], **matrix)
    for kernel in matrix["kernels"]:
        assert tagged([f"kernel:{kernel}"], **matrix) == [n for n in everything
                                                          if f",{kernel}," in n]


# --- options ----------------------------------------------------------------------------


def test_matrix_defaults_are_pmu_harness_runs() -> None:
    assert matrix_from_config({}) == Matrix(("debian-6.1",), ("max",), ("probe",), None)
    assert matrix_from_config(config()) == Matrix()


def test_matrix_names_from_repeated_or_comma_separated_options() -> None:
    matrix = matrix_from_config({"pmu_harness.machines": ["max,cortex-a57", "max"],
                                 "pmu_harness.kernels": "debian-6.12",
                                 "pmu_harness.timeout": "90"})
    assert matrix.machines == ("max", "cortex-a57")
    assert matrix.kernels == ("debian-6.12",)
    assert matrix.timeout_for("linux") == 90
    assert Matrix().timeout_for("probe") == 600 and Matrix().timeout_for("linux") == 1200


def avocado_list(*args: str) -> list[dict[str, Any]]:
    # `python -m avocado`: the venv's avocado, whether or not its bin/ is on PATH.
    out = subprocess.run([sys.executable, "-m", "avocado", "list", *args],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    rows = [line.split(None, 1) for line in out.splitlines() if line.strip()]
    return [{"kind": kind, "name": name.strip()} for kind, name in rows]


def test_avocado_list_takes_the_pmu_options() -> None:
    rows = avocado_list("--pmu-machine", "cortex-a57", "--pmu-mode", "probe,linux",
                        "--pmu-kernel", "debian-6.12", "--filter-by-tags", "smoke",
                        "testcases/")
    expected = [n for n in expected_names(Matrix(("debian-6.12",), ("cortex-a57",),
                                                 ("probe", "linux")))
                if n.split("[")[0] in {"no-filter", "member-deny", "nonmember-allow",
                                       "cycle-counter-deny"}]
    assert {r["kind"] for r in rows} == {KIND}
    assert sorted(r["name"] for r in rows) == sorted(expected)


# --- the runner, with run_group stood in for --------------------------------------------


def a_runnable(tmp_path: Path, **kwargs: Any) -> Runnable:
    [runnable] = resolve_one(NO_FILTER, **kwargs).resolutions
    out = tmp_path / "job" / "test-results" / f"1-{runnable.identifier}"
    out.mkdir(parents=True)
    runnable.output_dir = str(out)
    return runnable


def run_with(monkeypatch: pytest.MonkeyPatch, runnable: Runnable,
             fake: Any) -> list[dict[str, Any]]:
    monkeypatch.setattr("harness.execute.group.run_group", fake)
    return list(avocado_runner.PmuHarnessRunner().run(runnable))


def logged(messages: list[dict[str, Any]]) -> str:
    return "".join(m["log"].decode() for m in messages if m.get("type") == "log")


@pytest.mark.parametrize(("outcome", "result"), [
    (Outcome.PASS, "pass"), (Outcome.FAIL, "fail"), (Outcome.INCONCLUSIVE, "error"),
    (Outcome.ERROR, "error"), (Outcome.SKIP, "skip")])
def test_runner_maps_outcomes_and_logs_the_checks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: Outcome, result: str) -> None:
    runnable = a_runnable(tmp_path)
    seen: dict[str, Any] = {}

    def fake(group: Group, run_dir: Path, options: Any, progress: Any) -> list[CaseResult]:
        seen.update(group=group, run_dir=run_dir)
        print("printed by the case", file=sys.stderr)
        logging.getLogger("harness.execute.group").warning("  RETRY        something")
        check = Check("counter CPU_CYCLES", "counting", "observed 0", outcome, "scenario")
        return [replace(group.cases[0].result(outcome, "the reason"), checks=(check,),
                        artefacts=str(run_dir / "case"))]

    messages = run_with(monkeypatch, runnable, fake)
    assert messages[0]["status"] == "started"
    finished = messages[-1]
    assert finished["status"] == "finished" and finished["result"] == result
    assert finished["class_name"] == "no-filter"
    if outcome in (Outcome.PASS, Outcome.SKIP):
        assert "fail_reason" not in finished
    else:
        assert finished["fail_reason"] == "the reason"
        error_class = class_of_outcome(outcome)
        assert error_class is not None
        assert finished["fail_class"] == f"pmu-harness {error_class.value}"
    group: Group = seen["group"]
    assert [c.name for c in group.cases] == ["no-filter[max,debian-6.1,probe]"]
    # Artefacts: not under the test's own directory (its name has commas QEMU cannot take).
    run_dir: Path = seen["run_dir"]
    assert "," not in str(run_dir)
    assert runnable.output_dir is not None
    assert (Path(runnable.output_dir) / "artefacts").resolve() == run_dir.resolve()
    log = logged(messages)
    assert "counter CPU_CYCLES: expected counting, observed observed 0" in log
    assert str(run_dir) in log
    stderr = [m for m in messages if m.get("type") == "stderr"]
    assert b"printed by the case" in stderr[0]["log"]
    assert b"WARNING harness.execute.group:   RETRY        something" in stderr[0]["log"]
    whiteboard = [m for m in messages if m.get("type") == "whiteboard"]
    assert json.loads(whiteboard[0]["log"])["result"] == outcome.value


def test_runner_deadline_stops_the_case_and_reports_a_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runnable = a_runnable(tmp_path, timeout=1)
    unwound: list[str] = []

    def slow(group: Group, run_dir: Path, options: Any, progress: Any) -> list[CaseResult]:
        try:
            time.sleep(30)
        finally:
            unwound.append("L1 shut down")  # where run_group's context managers unwind
        return []

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGALRM)}
    start = time.monotonic()
    messages = run_with(monkeypatch, runnable, slow)
    assert time.monotonic() - start < 10
    assert unwound == ["L1 shut down"]
    finished = messages[-1]
    assert finished["result"] == "interrupted"
    assert "Timeout reached" in finished["fail_reason"] and "1 s" in finished["fail_reason"]
    # The handlers in force before (other tests may have set some) are back.
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


def test_runner_stopped_by_sigterm_unwinds_and_leaves_the_report_to_avocado(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runnable = a_runnable(tmp_path)
    unwound: list[str] = []

    def stopped(group: Group, run_dir: Path, options: Any, progress: Any) -> list[CaseResult]:
        try:
            signal.raise_signal(signal.SIGTERM)  # avocado's task timeout, or Ctrl-C
            time.sleep(30)
        finally:
            signal.raise_signal(signal.SIGINT)  # more signals must not cut the unwind short
            signal.raise_signal(signal.SIGTERM)
            unwound.append("L1 shut down")
        return []

    messages = run_with(monkeypatch, runnable, stopped)
    assert unwound == ["L1 shut down"]
    assert [m for m in messages if m["status"] == "finished"] == []


def test_runner_reports_a_scenario_that_changed_since_resolution(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(NO_FILTER.read_text())
    [runnable] = resolve_one(scenario).resolutions
    scenario.write_text(NO_FILTER.read_text().replace("id: no-filter", "id: renamed"))
    messages = list(avocado_runner.PmuHarnessRunner().run(runnable))
    assert messages[-1]["result"] == "error"
    assert "no scenario with id 'no-filter'" in messages[-1]["fail_reason"]


def test_runner_reads_its_own_hosts_copy_and_checks_it_is_the_same(tmp_path: Path) -> None:
    """On a remote spawner's host the job host's path means nothing: the runner reads the
    scenario from its own checkout (``project_path``) and refuses a copy that differs."""
    from harness.avocado_plugins.matrix import check_same_scenario, scenario_file

    [runnable] = resolve_one(NO_FILTER).resolutions
    assert scenario_file("/nowhere/on/this/host.yaml", runnable.kwargs) == NO_FILTER
    assert scenario_file(str(NO_FILTER), {}) == NO_FILTER
    check_same_scenario(NO_FILTER, runnable.kwargs["sha256"])
    other = tmp_path / "no-filter.yaml"
    other.write_text(NO_FILTER.read_text() + "# another revision\n")
    with pytest.raises(UsageError, match="another revision of pmu-harness"):
        check_same_scenario(other, runnable.kwargs["sha256"])
    runnable.kwargs["sha256"] = "0" * 64
    messages = list(avocado_runner.PmuHarnessRunner().run(runnable))
    assert messages[-1]["result"] == "error"
    assert "not the scenario the job resolved" in messages[-1]["fail_reason"]


def test_artefacts_stay_on_the_host_that_ran_the_test(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The remote spawner passes the job host's path for the test: not a directory here.
    monkeypatch.setenv("PMU_HARNESS_RESULTS", str(tmp_path / "own"))
    elsewhere = "/job/host/job-1/test-results/1-no-filter[max,debian-6.1,probe]"
    made = avocado_runner.artefacts_dir(elsewhere)
    assert made.parent == tmp_path / "own" and made.is_dir()
    assert "@" in avocado_runner.where()


def test_runner_reports_a_harness_bug_instead_of_going_silent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(*args: Any) -> list[CaseResult]:
        raise ZeroDivisionError("oops")

    messages = run_with(monkeypatch, a_runnable(tmp_path), buggy)
    assert messages[-1]["result"] == "error"
    assert "internal error" in messages[-1]["fail_reason"]
    assert "ZeroDivisionError" in messages[-1]["traceback"]


def test_load_case_rejects_a_case_that_does_not_apply() -> None:
    from harness.avocado_plugins.matrix import load_case

    case = load_case(NO_FILTER, "no-filter", "max", "debian-6.1", "linux")
    assert isinstance(case, Case) and case.name == "no-filter[max,debian-6.1,linux]"
    with pytest.raises(UsageError, match="does not apply"):
        load_case(SCENARIOS_DIR / "filter-after-init.yaml", "filter-after-init", "max",
                  "debian-6.1", "linux")


def test_runner_command_is_found_by_avocado() -> None:
    from avocado.core.nrunner.runnable import Runnable as R

    command = R.pick_runner_command(KIND, {})
    assert command is not None
    out = subprocess.run([*command, "capabilities"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert KIND in json.loads(out)["runnables"]
