"""``--spawner pmu-remote``: avocado's remote spawner, with hosts that may die mid-job.

avocado's remote spawner (``avocado-framework-plugin-spawner-remote`` 113.0; slots are
SSH hosts, see docs/avocado.rst) gives a test to a free slot and runs it there over the
slot's SSH session. When a host dies, the stock spawner drops the test it was running from
the job's results (its task "failed to start", which avocado counts as a skip) and hands
the dead slot to the next tests, which fail the same way: a dead host silently swallows
the rest of the job. This subclass changes only that:

- the test that was on the dead host is reported ``ERROR`` with the host in the reason
  (fail class ``pmu-harness host lost``), through the job's own status server, as if the
  test's runner had said so;
- the dead slot is never handed out again; a test waits for a live slot to be free, and
  when no live slot is left, the remaining tests are errors at once, so the job ends.

Everything else (slot files, settings, the setup hook) is the stock spawner's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any, ClassVar

from aexpect import exceptions as aexpect_errors
from aexpect import remote
from avocado.core.utils import messages
from avocado_spawner_remote import RemoteSpawner

LOG = logging.getLogger("avocado.job." + __name__)
# A free live slot is looked for this often while every live one is busy.
POLL_SECONDS = 1.0


def _open_sessions(config: Any) -> None:
    """The spawner's sessions, one per slot file (what the stock spawner does on its first
    test), except that a host that cannot be reached is a dead slot, not a crash."""
    for slot_file in config.get("spawner.remote.slots") or []:
        if not slot_file:
            continue
        data = json.loads(Path(slot_file).read_text(encoding="utf-8"))
        try:
            session = remote.remote_login(**data)
        except (aexpect_errors.ExpectError, remote.RemoteError, OSError) as exc:
            LOG.error("pmu-remote: slot %s (%s): cannot log in: %s", slot_file,
                      data.get("host"), exc)
            continue
        RemoteSpawner.slots_cache[session] = False


def _alive(session: Any) -> bool:
    try:
        return bool(session.is_alive())
    except Exception as exc:  # a session torn down under us is a dead one
        LOG.debug("pmu-remote: a session that cannot answer counts as dead", exc_info=exc)
        return False


class PmuRemoteSpawner(RemoteSpawner):
    description = "Remote (SSH host) spawner whose dead hosts turn their tests into errors"
    #: Sessions whose host went away: never handed out again.
    dead: ClassVar[set[Any]] = set()

    async def _live_slot(self) -> Any:
        """A free slot whose session is alive (marked busy), waiting while every live slot
        is busy; None once no live slot is left."""
        if not RemoteSpawner.slots_cache:
            _open_sessions(self.config)
        while True:
            live = [s for s in RemoteSpawner.slots_cache if s not in self.dead and _alive(s)]
            self.dead.update(s for s in RemoteSpawner.slots_cache if s not in live)
            if not live:
                return None
            for session in live:
                if not RemoteSpawner.slots_cache[session]:
                    RemoteSpawner.slots_cache[session] = True
                    return session
            await asyncio.sleep(POLL_SECONDS)

    async def spawn_task(self, runtime_task: Any) -> bool:
        slot = await self._live_slot()
        if slot is None:
            self._report_lost(runtime_task, "no live remote host is left to run it")
            return True
        runtime_task.spawner_handle = slot  # the stock spawner then uses this slot
        ok: bool = await super().spawn_task(runtime_task)
        if ok or _alive(slot):
            return ok  # a failed setup hook on a live host stays the stock spawner's case
        self.dead.add(slot)
        RemoteSpawner.slots_cache[slot] = True  # busy for good
        self._report_lost(runtime_task, f"its remote host {slot.host}:{slot.port} went away "
                                        "(the SSH session ended) before the test finished")
        return True

    def _report_lost(self, runtime_task: Any, why: str) -> None:
        """What the test's runner would have said, had its host lived: an error."""
        task = runtime_task.task
        self.create_task_output_dir(runtime_task)
        reason = f"pmu-harness: not run to the end: {why}"
        LOG.error("%s: %s", task.identifier, reason)
        sent = [messages.StartedMessage.get(output_dir=self.task_output_dir(runtime_task)),
                messages.LogMessage.get(reason + "\n"),
                messages.FinishedMessage.get("error", fail_reason=reason,
                                             fail_class="pmu-harness host lost",
                                             class_name=task.runnable.kwargs.get("scenario"))]
        for message in sent:
            message.update({"id": str(task.identifier), "job_id": task.job_id,
                            "time": time.monotonic()})
            for service in task.status_services:
                service.post(message)

    @staticmethod
    def is_task_alive(runtime_task: Any) -> bool:
        session = runtime_task.spawner_handle
        if session is None or session in PmuRemoteSpawner.dead or not _alive(session):
            return False
        alive: bool = RemoteSpawner.is_task_alive(runtime_task)
        return alive
