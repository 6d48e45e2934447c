"""SSH keys for one image set, made on the host: never the user's own keys."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.images.model import CLIENT_KEY
from harness.store.run import run

KEY_TIMEOUT = 60


@dataclass(frozen=True)
class SshKeys:
    client_private: Path       # OpenSSH format, for paramiko / ssh -i
    client_public: str         # authorized_keys line
    host_private_dropbear: Path
    host_public: str           # "ssh-ed25519 AAAA..."


def load_or_make_keys(directory: Path) -> SshKeys:
    """The keys kept in ``directory``, made there first if missing.

    Kept outside the entry (per entry name) so that repairing a damaged entry reproduces it
    byte for byte: snapshots of a booted L1 and known_hosts stay valid."""
    directory.mkdir(parents=True, exist_ok=True)
    client = directory / "id_ed25519"
    host = directory / "dropbear_ed25519_host_key"
    if client.is_file() and host.is_file() and (directory / "host_key.pub").is_file():
        return SshKeys(client_private=client,
                       client_public=(directory / "id_ed25519.pub").read_text().strip(),
                       host_private_dropbear=host,
                       host_public=(directory / "host_key.pub").read_text().strip())
    for stale in (client, host, directory / "id_ed25519.pub"):
        stale.unlink(missing_ok=True)
    keys = make_keys(directory)
    (directory / "host_key.pub").write_text(keys.host_public + "\n")
    return keys


def install_key_files(keys: SshKeys, out: Path) -> None:
    """Copy the client key pair and L1's public host key into an image set ``out``. The
    private key's copy is created 0600 (``os.open`` with the mode), never chmod-ed later:
    between a copy with the default mode and a chmod anyone could read it."""
    source = keys.client_private.parent
    for name in (f"{CLIENT_KEY}.pub", "host_key.pub"):
        shutil.copyfile(source / name, out / name)
    target = out / CLIENT_KEY
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(keys.client_private.read_bytes())


def make_keys(directory: Path) -> SshKeys:
    """A fresh client key pair and a fresh dropbear host key in ``directory``."""
    client = directory / "id_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pmu-harness", "-f", client],
        timeout=KEY_TIMEOUT, what="making the SSH client key (ssh-keygen)")
    host = directory / "dropbear_ed25519_host_key"
    output = run(["dropbearkey", "-t", "ed25519", "-f", host], timeout=KEY_TIMEOUT,
                 what="making the L1 host key (dropbearkey)")
    host_public = next((line.strip() for line in output.splitlines()
                        if line.startswith("ssh-ed25519 ")), "")
    if not host_public:
        host_public = run(["dropbearkey", "-y", "-f", host], timeout=KEY_TIMEOUT,
                          what="reading the L1 host key (dropbearkey -y)")
        host_public = next(line for line in host_public.splitlines()
                           if line.startswith("ssh-ed25519 ")).strip()
    public = (directory / "id_ed25519.pub").read_text().strip()
    return SshKeys(client_private=client, client_public=public,
                   host_private_dropbear=host, host_public=" ".join(host_public.split()[:2]))
