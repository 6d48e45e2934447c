"""``git bisect run pmu-harness run ... --kernel local --kernel-image PATH``, for real.

A throwaway repository stands in for a kernel tree: each commit "builds" (copies) a real
Debian kernel Image to the build output, one commit's build fails (no Image), and the
kernel changes behaviour from 5.10 to 6.1 half way (a filter set after a vCPU ran is
accepted by 5.10 and EBUSY from 5.18). The scenario is written for 5.10 behaviour, so
bisect must name the first 6.1 commit: exit 0 good, 1 bad, 125 skip, and the build
failure must never be called bad.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.images import ImageSet, build_image_set
from harness.paths import PROJECT_ROOT, cache_dir
from tests.system.qemu_processes import qemu_pids_mentioning

pytestmark = pytest.mark.system
BISECT_TIMEOUT = 1800
# What L1 needs beside a kernel without virtio built in (see guest-images/l1/modules.txt).
MODULE_PATTERNS = ("*/modules.builtin", "*virtio*", "*failover*")

SCENARIO = """\
id: filter-after-run-as-in-5-10
description: Written for 5.10, where a filter set after another vCPU ran is still applied.
vcpus: 2
filters:
  - init: 0
  - run: 0
  - deny: CPU_CYCLES
    vcpu: 1
workload:
  events: [CPU_CYCLES]
  cycle_counter: true
  loops: 2000
expect:
  errnos: [OK]
"""


def _deb(images: ImageSet) -> Path:
    version = images.kernel_package_version.replace(":", "%3a")
    name = f"{images.kernel_package}_{version}_arm64.deb"
    found = sorted(cache_dir().glob(f"apt/*/archives/{name}"))
    assert found, f"{name} is not in the apt cache under {cache_dir()}"
    return found[0]


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path) -> None:
    """One regular file of the package, by hand: Debian 12's Python 3.11.2 has no
    ``extract(filter=...)``, and a member's name must stay inside ``root`` either way."""
    name = Path(member.name)
    assert not name.is_absolute() and ".." not in name.parts, member.name
    source = tar.extractfile(member)
    assert source is not None
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(source.read())


def _modules_fixture(images: ImageSet, root: Path) -> None:
    """The virtio modules of a Debian kernel package, as a local build would have them."""
    release_dir = root / images.kernel_release
    if release_dir.is_dir():
        return
    tmp = root / f".{images.kernel_release}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(_deb(images))],
                          stdout=subprocess.PIPE) as deb:
        assert deb.stdout is not None
        with tarfile.open(fileobj=deb.stdout, mode="r|") as tar:
            for member in tar:
                if any(Path(member.name).match(p) for p in MODULE_PATTERNS) and member.isfile():
                    _extract(tar, member, tmp)
    (modules,) = tmp.glob(f"*lib/modules/{images.kernel_release}")
    modules.rename(release_dir)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=env, timeout=BISECT_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_git_bisect_run_names_the_first_bad_kernel(tmp_path: Path) -> None:
    old, new = build_image_set("debian-5.10"), build_image_set("debian-6.1")
    modules = cache_dir() / "fixtures" / "modules"
    for images in (old, new):
        _modules_fixture(images, modules)
    repo, out = tmp_path / "tree", tmp_path / "out"
    repo.mkdir()
    out.mkdir()
    _git(repo, "init", "-q", "-b", "trunk")
    history = [old.kernel_image, None, old.kernel_image, new.kernel_image,
               new.kernel_image, new.kernel_image]
    commits = []
    for number, image in enumerate(history, start=1):
        (repo / "image-to-build").write_text(f"{image or 'build-breaks'}\n")
        _git(repo, "add", "image-to-build")
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"c{number}")
        commits.append(_git(repo, "rev-parse", "HEAD").strip())
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    # The "build": copy the Image, or leave none behind like a failed build does.
    step = (f"rm -f {out}/Image; cp \"$(cat image-to-build)\" {out}/Image 2>/dev/null; "
            f"exec {shlex.quote(str(PROJECT_ROOT / '.venv/bin/pmu-harness'))} run "
            f"{scenario} --kernel local --kernel-image {out}/Image "
            f"--kernel-modules {modules} --machine max --bisect")
    env_results = tmp_path / "results"
    env = {**os.environ, "PMU_HARNESS_RESULTS": str(env_results)}
    # Bisect may never visit the broken build; that it would skip it is checked here.
    _git(repo, "checkout", "-q", commits[1])
    broken = subprocess.run(["sh", "-c", step], cwd=repo, capture_output=True, text=True,
                            env=env, timeout=BISECT_TIMEOUT, check=False)
    assert broken.returncode == 125, broken.stderr
    _git(repo, "checkout", "-q", "trunk")
    _git(repo, "bisect", "start", commits[-1], commits[0])
    proc = subprocess.run(["git", "-C", str(repo), "bisect", "run", "sh", "-c", step],
                          capture_output=True, text=True, timeout=BISECT_TIMEOUT,
                          env=env, check=False)
    log = _git(repo, "bisect", "log")
    print(proc.stdout, proc.stderr, log)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{commits[3]} is the first bad commit" in proc.stdout
    assert "bad" in log and "good" in log
    assert qemu_pids_mentioning(str(env_results)) == []

