"""``pmu-harness review`` end to end: our port of the posted v3, as an mbox with its cover
letter, built on ``filter-base`` and run on real kernels, and a series that does not apply.

On ``cortex-a57`` only (an ARMv8.0 PMU, where v3's event space and masking both show): the
two builds are ccache hits after CI's first step, the runs about a minute each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT

pytestmark = pytest.mark.system
DATA = PROJECT_ROOT / "tests/data/review"
TIMEOUT = 3600


def review(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "review", *args], cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
        env={**os.environ, "PMU_HARNESS_RESULTS": str(tmp_path / "results")})
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return proc


def test_a_series_that_does_not_apply_exits_2_naming_patch_and_hunk(tmp_path: Path) -> None:
    # v3's patch 3 without patches 1 and 2: its context is not in the base.
    proc = review(tmp_path, str(DATA / "v3-patch3-alone.mbx"), "--base", "filter-base")
    assert proc.returncode == 2
    assert "series does not apply: v3-patch3-alone.mbx [1/1] [PATCH 3/5]" in proc.stderr
    assert ("arch/arm64/include/asm/kvm_host.h: hunk #1 FAILED at line 112: "
            "@@ -112,6 +112,13 @@ struct kvm_arch {") in proc.stderr
    assert "running" not in proc.stderr  # nothing booted


def test_the_posted_v3_on_the_base_is_reviewed_as_documented(tmp_path: Path) -> None:
    out = tmp_path / "review.txt"
    proc = review(tmp_path, str(DATA / "v3.mbx"), "--base", "filter-base", "--machine",
                  "cortex-a57", "--txt", str(out), "--json", str(tmp_path / "review.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    mail = out.read_text()
    head = mail.splitlines()[:5]
    assert head == [
        "Subject: Re: [PATCH v3 0/5] KVM: arm64: Filtering PMU events",
        "In-Reply-To: <20200908075830.1161921-1-maz@kernel.org>",
        "References: <20200908075830.1161921-1-maz@kernel.org>", "",
        "Verdict: no departure from the documented API of Linux 5.10.223."]
    assert max(len(line) for line in mail.splitlines()) <= 80
    data = json.loads((tmp_path / "review.json").read_text())
    added = {b["id"] for b in data["behaviours"] if b["vs_base"]}
    assert "filter-api" in added                 # the base has no FILTER at all
    assert not [b for b in data["behaviours"] if b["vs_api"]]
    run_dir = Path(proc.stderr.split("artefacts in ")[1].split()[0])
    for name in ("review.txt", "review.html", "review.json", "review-inputs.json"):
        assert (run_dir / name).is_file(), name
    # Each case says what its prediction rests on: the tree, its version, the series by
    # name and hash, and why (the mbox on a revision profile: the tree's version rules).
    oracle = json.loads((run_dir / "series/filter-base-cortex-a57/member-deny-probe/"
                         "oracle.json").read_text())
    assert oracle["source"].startswith("filter-base: linux-source-5.10 5.10.223-1 + base [")
    assert "v3 [" in oracle["source"] and "the tree's version rules: --series added a " \
        "series, so the profile's revision base no longer describes the kernel" in \
        oracle["source"]
