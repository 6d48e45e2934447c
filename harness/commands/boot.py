"""`pmu-harness boot`: bring L1 up (cold or from a snapshot) and print what it reports."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.catalog import MACHINES
from harness.errors import EXIT_OK, InfraError
from harness.machine import L1Machine, load_machine_profile
from harness.paths import new_run_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "boot",
        help="boot (or restore) L1 and print its kernel, KVM mode and PMU facts",
        description="Boot L1 under QEMU TCG (or restore its snapshot) and report its facts.",
    )
    parser.add_argument("--kernel", required=True, help="kernel profile (configs/kernels)")
    parser.add_argument(
        "--machine", default="max", help=f"machine profile ({', '.join(MACHINES.names())})"
    )
    parser.add_argument("--nvhe", action="store_true", help="boot KVM in nVHE mode")
    parser.add_argument("--no-snapshot", "--no-snapshots", action="store_true",
                        help="always boot cold (and save no snapshot)")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    parser.add_argument("--shell", action="store_true", help="then open an SSH shell in L1")
    parser.add_argument("--timeout", type=float, default=300.0, help="boot deadline (s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the images stage is heavy and other commands must not depend on it.
    from harness.images import build_image_set

    profile = load_machine_profile(args.machine)
    kvm_mode = "nvhe" if args.nvhe else None
    profile.resolve_kvm_mode(kvm_mode)  # a bad combination fails before anything is built
    images = build_image_set(args.kernel)
    run_dir = new_run_dir(f"boot-{args.kernel}-{args.machine}")
    with L1Machine(
        images, profile, run_dir, kvm_mode=kvm_mode, snapshots=not args.no_snapshot,
        boot_timeout=args.timeout,
    ) as l1:
        facts = l1.facts()
        report: dict[str, Any] = {
            "kernel_profile": args.kernel,
            "machine": profile.name,
            "boot": str(l1.boot_mode),
            "seconds_to_ssh": round(l1.boot_seconds or 0.0, 3),
            "boot_phases": l1.timings,
            "snapshot_save_seconds": (
                round(l1.save_seconds, 3) if l1.save_seconds is not None else None
            ),
            "run_dir": str(run_dir),
            "pmu_version_profile": profile.pmu.version,
            "pmceid_profile": f"{profile.pmu.host_pmceid0:#x} / {profile.pmu.host_pmceid1:#x}",
            **facts.to_json(),
        }
        (run_dir / "l1-facts.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2) if args.json else _human(report))
        if args.shell:
            _shell(l1, run_dir)
    return EXIT_OK


def _human(report: dict[str, Any]) -> str:
    events = report["pmu_events"]
    lines = [
        f"kernel:        {report['kernel_release']} ({report['kernel_profile']})",
        f"machine:       {report['machine']}",
        f"KVM mode:      {report['kvm_mode'] or 'NOT INITIALISED: ' + str(report['kvm_error'])}",
        f"/dev/kvm:      {'yes' if report['dev_kvm'] else 'no'}",
        f"PMU:           {report['pmu_driver']}, {report['pmu_counters']} counters "
        f"(incl. cycle counter); version {report['pmu_version_inferred']} by its events, "
        f"{report['pmu_version_profile']} by the machine profile",
        f"L1 PMCEID0/1:  {report['pmceid0']} / {report['pmceid1']} (from the sysfs event list: "
        f"a lower bound; the profile says {report['pmceid_profile']})",
        f"PMU events:    {len(events)}: " + ", ".join(f"{k}={v}" for k, v in events.items()),
        f"up via:        {report['boot']} in {report['seconds_to_ssh']} s to SSH-ready",
        f"logs:          {report['run_dir']}",
    ]
    return "\n".join(lines)


def _shell(l1: L1Machine, run_dir: Path) -> None:
    """An interactive OpenSSH session into L1, pinned to the image's host key."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise InfraError("--shell needs the OpenSSH client (apt-get install openssh-client)")
    target = l1.ssh.target
    known_hosts = run_dir / "known_hosts"
    known_hosts.write_text(f"[{target.host}]:{target.port} {target.host_public_key}\n")
    argv = [
        ssh, "-p", str(target.port), "-i", str(target.client_key),
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "PasswordAuthentication=no", "-o", "IdentitiesOnly=yes",
        f"{target.user}@{target.host}",
    ]
    # Interactive: the user decides how long it lasts, so no deadline here.
    subprocess.run(argv, check=False)
