"""Close avocado's remote spawner's SSH sessions when a job ends.

``avocado-framework-plugin-spawner-remote`` (113.0) opens one SSH session per slot on the
job's first test and never closes them: each leaves an ``aexpect_helper`` daemon and an
``ssh`` client on the job host, and a login shell on the slot's host, after ``avocado run``
has returned. This job-post plugin closes every session the spawner holds, so a job
leaves no process behind. Without that spawner installed it does nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from typing import Any

from avocado.core.plugin_interfaces import JobPost

from harness.avocado_plugins import KIND

LOG = logging.getLogger(__name__)
SPAWNER_MODULE = "avocado_spawner_remote"


def close_remote_sessions() -> int:
    """Close the remote spawner's sessions (dead ones too); how many there were."""
    try:
        spawner = importlib.import_module(SPAWNER_MODULE).RemoteSpawner
    except (ImportError, AttributeError):
        return 0
    # The spawner keeps its sessions in a class attribute, session -> busy (113.0).
    sessions = list(getattr(spawner, "slots_cache", {}))
    for session in sessions:
        # A session whose host died raises on close: it is gone either way.
        with contextlib.suppress(Exception):
            session.close()
    if sessions:
        spawner.slots_cache.clear()
        LOG.info("pmu-harness: closed %d remote spawner session(s)", len(sessions))
    return len(sessions)


class RemoteSessionsPost(JobPost):  # type: ignore[misc]  # avocado is untyped
    name = f"{KIND}-remote-sessions"
    description = "closes the remote spawner's SSH sessions when the job ends"

    def post(self, job: Any) -> None:
        close_remote_sessions()
