"""``pmu-remote``'s choice of slot and its report of a test whose host died, with stand-in
SSH sessions (the spawner's logic is what is under test here; the real sessions and a real
dead host are in tests/system/test_avocado_remote.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from avocado_spawner_remote import RemoteSpawner

from harness.avocado_plugins.sessions import close_remote_sessions
from harness.avocado_plugins.spawner import PmuRemoteSpawner


@dataclass(eq=False)
class Session:
    host: str
    alive: bool = True
    port: str = "22"
    closed: bool = False

    def is_alive(self) -> bool:
        return self.alive

    def close(self) -> None:
        self.closed = True


@dataclass
class Service:
    posted: list[dict[str, Any]] = field(default_factory=list)

    def post(self, message: dict[str, Any]) -> bool:
        self.posted.append(message)
        return True


@pytest.fixture
def spawner() -> Iterator[PmuRemoteSpawner]:
    made = PmuRemoteSpawner.__new__(PmuRemoteSpawner)  # no avocado job: no config needed
    yield made
    RemoteSpawner.slots_cache.clear()
    PmuRemoteSpawner.dead.clear()


def test_a_dead_slot_is_never_handed_out(spawner: PmuRemoteSpawner) -> None:
    dead, live = Session("a", alive=False), Session("b")
    RemoteSpawner.slots_cache.update({dead: False, live: False})
    assert asyncio.run(spawner._live_slot()) is live
    assert RemoteSpawner.slots_cache[live] is True and dead in PmuRemoteSpawner.dead


def test_no_live_slot_left_is_none(spawner: PmuRemoteSpawner) -> None:
    RemoteSpawner.slots_cache.update({Session("a", alive=False): False})
    assert asyncio.run(spawner._live_slot()) is None


def test_a_busy_live_slot_is_waited_for(spawner: PmuRemoteSpawner,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.avocado_plugins.spawner.POLL_SECONDS", 0.01)
    busy = Session("a")
    RemoteSpawner.slots_cache.update({busy: True})

    async def free_later() -> Any:
        task = asyncio.ensure_future(spawner._live_slot())
        await asyncio.sleep(0.05)
        assert not task.done()  # still waiting: the only live slot is busy
        RemoteSpawner.slots_cache[busy] = False
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(free_later()) is busy


def test_a_lost_test_is_reported_as_an_error(spawner: PmuRemoteSpawner, tmp_path: Path) -> None:
    service = Service()

    task = SimpleNamespace(
        identifier="1-no-filter[max,debian-6.1,probe]", job_id="abc",
        runnable=SimpleNamespace(kwargs={"scenario": "no-filter"},
                                 output_dir=str(tmp_path / "1-no-filter")),
        status_services=[service], setup_output_dir=lambda path: None)
    runtime_task = SimpleNamespace(task=task)

    spawner._report_lost(runtime_task, "its remote host 127.0.0.4:22 went away")
    statuses = [m["status"] for m in service.posted]
    assert statuses == ["started", "running", "finished"]
    finished = service.posted[-1]
    assert finished["result"] == "error" and finished["fail_class"] == "pmu-harness host lost"
    assert "127.0.0.4:22 went away" in finished["fail_reason"]
    assert {m["id"] for m in service.posted} == {task.identifier}


def test_sessions_are_closed_when_the_job_ends() -> None:
    sessions = [Session("a"), Session("b", alive=False)]
    RemoteSpawner.slots_cache.update(dict.fromkeys(sessions, False))
    PmuRemoteSpawner.dead.add(sessions[1])
    assert close_remote_sessions() == 2
    assert all(s.closed for s in sessions)
    assert not RemoteSpawner.slots_cache and not PmuRemoteSpawner.dead
