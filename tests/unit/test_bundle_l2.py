"""A linux-mode case's bundle records the L2 it ran with, and rerun takes it from there."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.bundle import BUNDLE_FILE, bundle_l2, read_bundle, write_bundle
from harness.errors import UsageError
from harness.l2.settings import L2Settings
from tests.unit.test_bundle_parallel import failed


def linux_bundle(tmp_path: Path, l2: L2Settings) -> Path:
    probe_case, result, source = failed(tmp_path)
    linux_case = replace(probe_case, mode="linux")
    return write_bundle(linux_case, replace(result, mode="linux"), replace(source, l2=l2),
                        tmp_path / "bundles")


@pytest.mark.parametrize("l2", [L2Settings("distro", False), L2Settings("small", True),
                                L2Settings("small", False)])
def test_a_linux_case_bundle_reruns_with_its_l2(tmp_path: Path, l2: L2Settings) -> None:
    bundle = read_bundle(linux_bundle(tmp_path, l2))
    assert bundle.data["options"]["l2"] == {"kernel": l2.kernel, "restore": l2.restore}
    assert bundle_l2(bundle.data) == l2


def test_a_probe_case_bundle_names_no_l2(tmp_path: Path) -> None:
    probe_case, result, source = failed(tmp_path)
    bundle = read_bundle(write_bundle(probe_case, result, source, tmp_path / "bundles"))
    assert "l2" not in bundle.data["options"]


@pytest.mark.parametrize(("l2", "says"), [
    ({"kernel": "mine", "restore": False}, "options.l2 must be {kernel: small or distro"),
    ({"kernel": "small", "restore": "yes"}, "options.l2 must be"),
    ({"kernel": "small"}, "options.l2 must be"),
    ("small", "options.l2 must be"),
    ({"kernel": "distro", "restore": True}, "options.l2: restore needs kernel small"),
])
def test_a_bundle_with_a_bad_l2_is_refused(tmp_path: Path, l2: object, says: str) -> None:
    directory = linux_bundle(tmp_path, L2Settings())
    file = directory / BUNDLE_FILE
    data = json.loads(file.read_text())
    data["options"]["l2"] = l2
    file.write_text(json.dumps(data))
    with pytest.raises(UsageError) as caught:
        read_bundle(directory)
    assert says in str(caught.value)
    assert str(file) in str(caught.value)
