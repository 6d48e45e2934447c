"""Close avocado's remote spawner's SSH sessions when a job ends.

``avocado-framework-plugin-spawner-remote`` (113.0) opens one SSH session per slot on the
job's first test and never closes them: each leaves an ``aexpect_helper`` daemon and an
``ssh`` client on the job host, and a login shell on the slot's host, after ``avocado run``
has returned. This job-post plugin closes every session the spawner holds, so a job
leaves no process behind; without remote sessions it does nothing.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from avocado.core.plugin_interfaces import JobPost
from avocado_spawner_remote import RemoteSpawner

from harness.avocado_plugins import KIND
from harness.avocado_plugins.spawner import PmuRemoteSpawner

LOG = logging.getLogger(__name__)


def close_remote_sessions() -> int:
    """Close the remote spawner's sessions (dead ones too); how many there were."""
    # The spawner keeps its sessions in a class attribute, session -> busy (113.0); the
    # pmu-remote subclass shares them and keeps the dead ones apart.
    sessions = list(RemoteSpawner.slots_cache)
    for session in sessions:
        # A session whose host died may raise on close: it is gone either way.
        with contextlib.suppress(Exception):
            session.close()
    RemoteSpawner.slots_cache.clear()
    PmuRemoteSpawner.dead.clear()
    if sessions:
        LOG.info("pmu-harness: closed %d remote spawner session(s)", len(sessions))
    return len(sessions)


class RemoteSessionsPost(JobPost):
    name = f"{KIND}-remote-sessions"
    description = "closes the remote spawner's SSH sessions when the job ends"

    def post(self, job: Any) -> None:
        close_remote_sessions()
