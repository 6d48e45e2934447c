"""Image sets end to end: build, cache hit, verify, repair, and an L1 that answers SSH.

Slow (downloads on a cold cache, boots QEMU TCG). Run with
``pytest -m system tests/system/test_images.py``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from harness.cli import main
from harness.errors import EXIT_INFRA
from harness.images import ImageSet, build_image_set, list_image_sets, verify_image_set

pytestmark = pytest.mark.system
KERNEL = "debian-6.1"
BOOT_DEADLINE = 180.0


def _host_apt_state() -> tuple[str, str]:
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
    sources = hashlib.sha256()
    for path in sorted(Path("/etc/apt").rglob("*")):
        if path.is_file() and path.suffix in (".list", ".sources", ".conf", ""):
            sources.update(str(path).encode() + path.read_bytes())
    return foreign, sources.hexdigest()


def _stamps(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns
            for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def image_set() -> ImageSet:
    return build_image_set(KERNEL, progress=False)


def test_build_is_verified_listed_and_cached(image_set: ImageSet,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_image_set(image_set) == []
    # A cache hit is proven by nothing rebuilt: the same directory, every file in it
    # untouched (same mtime), and no other image set made beside it.
    before = _stamps(image_set.directory)
    sets_before = sorted(image_set.directory.parent.iterdir())
    again = build_image_set(KERNEL, progress=False)
    assert again.directory == image_set.directory
    assert _stamps(image_set.directory) == before
    assert sorted(image_set.directory.parent.iterdir()) == sets_before
    assert image_set.directory in [s.directory for s in list_image_sets()]
    assert main(["images", "list"]) == 0
    out = capsys.readouterr().out
    assert image_set.kernel_package_version in out and image_set.kernel_sha256 in out


def test_truncation_fails_verify_and_the_next_build_repairs(image_set: ImageSet) -> None:
    before = _host_apt_state()
    with image_set.l1_initrd.open("r+b") as handle:
        handle.truncate(1000)
    assert any("l1-initrd.cpio" in p for p in verify_image_set(image_set))
    assert main(["images", "verify"]) == EXIT_INFRA  # the machinery, not the kernel
    repaired = build_image_set(KERNEL, progress=False)
    assert repaired.directory == image_set.directory
    assert verify_image_set(repaired) == []
    assert _host_apt_state() == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def l1(image_set: ImageSet, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    console = tmp_path / "console.log"
    command = [
        "qemu-system-aarch64", "-machine", "virt,virtualization=on,gic-version=3",
        "-cpu", "max", "-accel", "tcg,thread=multi", "-m", "3072", "-smp", "2", "-nographic",
        "-kernel", str(image_set.kernel_image), "-initrd", str(image_set.l1_initrd),
        "-append", "console=ttyAMA0 panic=-1",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=n0,romfile=",
    ]
    with console.open("wb") as log:
        qemu = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + BOOT_DEADLINE
        while b"PMU-HARNESS-L1-READY" not in console.read_bytes():
            assert qemu.poll() is None, console.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "L1 never printed PMU-HARNESS-L1-READY"
            time.sleep(0.2)
        yield port, console
    finally:
        qemu.kill()
        qemu.wait(timeout=30)


def _client(image_set: ImageSet, port: int) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    kind, blob = image_set.ssh_host_public_key.split()[:2]
    client.get_host_keys().add(f"[127.0.0.1]:{port}", kind,
                               paramiko.Ed25519Key(data=base64.b64decode(blob)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect("127.0.0.1", port=port, username="root", look_for_keys=False,
                   allow_agent=False, timeout=30,
                   pkey=paramiko.Ed25519Key.from_private_key_file(str(image_set.ssh_client_key)))
    return client


def _run(client: paramiko.SSHClient, command: str, timeout: float = 240) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode() + stderr.read().decode()
    assert stdout.channel.recv_exit_status() == 0, out
    return out


def test_l1_serves_ssh_sftp_kvm_perf_and_runs_l2(image_set: ImageSet,
                                                 l1: tuple[int, Path]) -> None:
    port, _ = l1
    client = _client(image_set, port)
    try:
        assert image_set.kernel_release in _run(client, "uname -r")
        _run(client, "test -c /dev/kvm && perf --version && qemu-system-aarch64 --version")
        sftp = client.open_sftp()
        sftp.putfo(io.BytesIO(b"filter"), "/tmp/filter")
        assert sftp.stat("/opt/pmu-harness/l2/Image").st_size == image_set.kernel_image.stat(
        ).st_size
        out = _run(client, (
            "qemu-system-aarch64 -accel kvm -machine virt,gic-version=3 -cpu host -m 256 "
            "-nographic -nic none -kernel /opt/pmu-harness/l2/Image "
            "-initrd /opt/pmu-harness/l2/initrd -append 'console=ttyAMA0 panic=-1 quiet "
            "pmu_harness.events=r11,cycles pmu_harness.loops=1000'"))
        events = out.split("PMU-HARNESS-EVENTS-BEGIN")[1].split("PMU-HARNESS-EVENTS-END")[0]
        assert "cpu_cycles event=0x0011" in events
        # One perf section per measured CPU; without pmu_harness.cpus= only CPU 0.
        perf = out.split("PMU-HARNESS-PERF-CPU0-BEGIN")[1].split("PMU-HARNESS-PERF-CPU0-END")[0]
        assert ",r11," in perf and ",cycles," in perf
        assert "PMU-HARNESS-PERF-STATUS cpu=0 status=0" in out
    finally:
        client.close()
