"""An L2 snapshot in L1: taken once per L1 (and vCPU count), restored for every run.

The snapshot is of an L2 booted with no filter whose init waits on its console for its
settings (guest-images/l2/init, ``wait=1``), before anything touches the PMU: the PMU
driver (a module in the small L2 kernel) is loaded only once the settings came. A run
starts L1's QEMU with ``-incoming`` under the preload, which installs the case's filter at
PMU INIT while the machine is built, before the saved state is read; the restored init
prompts again, is answered with the case's settings, and goes on as a booted one would.

QEMU in L1 is Debian 12's (7.2), whose migration has no ``file:`` transport (QEMU 8.2):
the state is written and read through ``exec:cat``. L1's QEMU is driven with shell only
(busybox in L1): its monitor through a pipe chardev (two FIFOs), the console through stdio.
"""

from __future__ import annotations

import shlex

from harness.l2.vmm import WAIT_APPEND, BootFiles, GuestSettings, qemu

READY = "PMU-HARNESS-READY"
SAVED = "Migration status: completed"
# Tenths of a second the snapshot's L2 may take to boot to its prompt (a cold L2 boot takes
# 5-10 s; 120 s is for a loaded host).
BOOT_WAIT_TENTHS = 1200


def take_command(files: BootFiles, vcpus: int, directory: str) -> str:
    """Shell that boots L2 to its prompt, saves it to ``<directory>/l2.snapshot`` and
    prints the boot's console, then the monitor's log. Exit status 0 only when the
    snapshot is complete."""
    d = shlex.quote(directory)
    snapshot = f"{directory}/l2.snapshot"
    monitor = f"migrate \"exec:cat > {snapshot}.part\"\ninfo migrate\nquit\n"
    boot = qemu(files, vcpus, WAIT_APPEND, f"-monitor pipe:{shlex.quote(directory)}/monitor")
    return "\n".join([
        f"mkdir -p {d} && cd {d} || exit 1",
        "rm -f monitor.in monitor.out l2.snapshot l2.snapshot.part && "
        "mkfifo monitor.in monitor.out || exit 1",
        # The monitor's answers, until QEMU (the FIFO's only writer) exits.
        "cat monitor.out > monitor.log & reader=$!",
        f"{boot} < /dev/null > console.log 2> qemu.stderr & vmm=$!",
        "tenths=0",
        f"until grep -q {READY} console.log; do",
        "    kill -0 $vmm 2>/dev/null || break",
        f"    tenths=$((tenths + 1)); [ $tenths -lt {BOOT_WAIT_TENTHS} ] || break",
        "    sleep 0.1",
        "done",
        # HMP's migrate holds the monitor until the state is written: quit comes after.
        f"if grep -q {READY} console.log && kill -0 $vmm 2>/dev/null; then",
        f"    printf {shlex.quote(monitor)} > monitor.in",
        "else",
        "    kill $vmm 2>/dev/null",
        "fi",
        "wait $vmm",
        "kill $reader 2>/dev/null; wait $reader",
        "cat console.log qemu.stderr; echo; cat monitor.log",
        f"grep -q {shlex.quote(SAVED)} monitor.log && mv l2.snapshot.part l2.snapshot",
    ])


def restore_command(files: BootFiles, vcpus: int, snapshot: str, settings: GuestSettings,
                    env: str, directory: str) -> str:
    """Shell that restores L2 from ``snapshot`` under ``env`` (the preload), answers its
    first prompt with ``settings`` and prints its console until it powers off."""
    line = shlex.quote(settings.line())
    restore = qemu(files, vcpus, WAIT_APPEND, f"-incoming {shlex.quote('exec:cat ' + snapshot)}")
    # The console's input is a FIFO held open read-write (fd 3): QEMU never sees its end,
    # and the loop below writes the settings into it once the restored L2 prompts.
    # L1's uptime when QEMU starts, when the restored L2 first prompts and at the end, for
    # bench/l2_restore.py (outside the sections the console parser reads).
    stamp = "read -r up _ < /proc/uptime && echo \"PMU-HARNESS-L1-UPTIME {} $up\""
    return " ".join([
        f"cd {shlex.quote(directory)} && rm -f console.in answered && mkfifo console.in &&",
        f"exec 3<>console.in && {stamp.format('start')} &&",
        f"{{ {env} {restore} <&3 | while IFS= read -r line; do",
        "printf '%s\\n' \"$line\";",
        f"case \"$line\" in *{READY}*) [ -e answered ] || {{ printf '%s\\n' {line} >&3;"
        f" : > answered; {stamp.format('answered')}; }} ;; esac;",
        f"done; }}; {stamp.format('end')}",
    ])
