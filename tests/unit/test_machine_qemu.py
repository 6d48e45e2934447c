"""The QEMU command line follows the machine profile; per-run parts stay out of the key."""

from __future__ import annotations

from pathlib import Path

from harness.machine.profile import load_machine_profile
from harness.machine.qemu import QemuSpec, RunWiring, command_line, parse_hostfwd_port


def _spec(profile: str = "max", mode: str | None = None) -> QemuSpec:
    p = load_machine_profile(profile)
    return QemuSpec(p, Path("/k/Image"), Path("/k/initrd"), p.resolve_kvm_mode(mode))


def _wiring(tmp: str = "/run/a") -> RunWiring:
    return RunWiring(qmp_fd=7, console_log=Path(tmp) / "console.log")


def test_max_command_line() -> None:
    argv = command_line(_spec(), _wiring())
    joined = " ".join(argv)
    assert "-machine virt,virtualization=on,gic-version=3" in joined
    assert "-cpu max" in joined and "-accel tcg,thread=multi" in joined
    assert "-m 3072" in joined and "-smp 2" in joined
    assert "-icount" not in argv
    assert "socket,id=qmp,fd=7" in joined
    assert "hostfwd=tcp:127.0.0.1:0-10.0.2.15:22" in joined
    assert "kvm-arm.mode" not in joined


def test_icount_forces_single_threaded_tcg() -> None:
    joined = " ".join(command_line(_spec("max-icount"), _wiring()))
    assert "-icount shift=0" in joined
    assert "thread=single" in joined and "thread=multi" not in joined


def test_nvhe_goes_on_the_kernel_command_line() -> None:
    assert "kvm-arm.mode=nvhe" in _spec("max", "nvhe").append_line()
    assert "kvm-arm.mode=nvhe" in _spec("cortex-a57").append_line()
    assert "panic=-1" in _spec().append_line()


def test_incoming_snapshot() -> None:
    wiring = RunWiring(qmp_fd=3, console_log=Path("/c"), incoming=Path("/s/l1.state"))
    argv = command_line(_spec(), wiring)
    assert argv[argv.index("-incoming") + 1] == "file:/s/l1.state"
    # The saved RAM holds the kernel, initrd and command line: none is loaded again.
    for boot_file in ("-kernel", "-initrd", "-append"):
        assert boot_file not in argv
        assert boot_file in command_line(_spec(), _wiring())


def test_stable_args_have_no_per_run_parts() -> None:
    stable = " ".join(_spec().stable_args())
    for per_run in ("fd=", "/run/a", "/k/Image", "hostfwd", "-name"):
        assert per_run not in stable
    assert "-cpu max" in stable and "<kernel>" in stable
    assert _spec().stable_args() != _spec("max", "nvhe").stable_args()


def test_parse_hostfwd_port() -> None:
    info = (
        "Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  "
        "Port RecvQ SendQ\r\n  TCP[HOST_FORWARD]   9       127.0.0.1 42363       10.0.2.15    "
        "22     0     0\r\n"
    )
    assert parse_hostfwd_port(info) == 42363
    assert parse_hostfwd_port("Hub -1 (net0):\r\n") is None


def test_commas_in_run_paths_are_escaped() -> None:
    argv = command_line(_spec(), _wiring("/r/case[max,debian-6.1,probe]"))
    assert "file,id=console,path=/r/case[max,,debian-6.1,,probe]/console.log" in argv
