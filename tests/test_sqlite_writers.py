"""One process on the embedded SQLite: a write transaction held open (the event loop stalled meanwhile) makes the
other writers of the process queue, never fail with "database is locked"; readers never wait for it."""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, update

import app.uow
import data.engine
from app.api.health import database_problem
from app.bootstrap import Vigil, build
from app.config import Settings
from app.domain import AlertStatus, Priority, VitalKind
from app.schemas import Actor, NewAlert, VitalReadingIn
from app.services.escalation import Watchdog
from app.uow import NestedWrite
from data.models import VitalReading, Ward

from .conftest import FakeClock, World

# Short, so that a writer left to the busy timeout fails within the test; the queue in the process has no limit.
BUSY_TIMEOUT_MS = 200
# How long a holder keeps its transaction open: several busy timeouts (a stalled event loop in the soak held one
# for seconds).
HELD_SECONDS = 3 * BUSY_TIMEOUT_MS / 1000


@pytest.fixture
async def vigil(sqlite_url: str, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                ) -> AsyncIterator[Vigil]:
    monkeypatch.setattr(data.engine, 'SQLITE_BUSY_TIMEOUT_MS', BUSY_TIMEOUT_MS)
    system = build(Settings(database_url=sqlite_url, data_dir=tmp_path), clock=clock)
    yield system
    await system.close()


async def rename_ward(vigil: Vigil, world: World, name: str) -> None:
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name=name))
        await uow.commit()


async def ward_name(vigil: Vigil, world: World) -> str | None:
    async with vigil.db.read() as session:
        return await session.scalar(select(Ward.name).where(Ward.id == world.a.ward_ids['South']))


async def test_writers_queue_behind_a_transaction_held_open_and_none_fails(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    nurse = world.a.actor('nurse')
    overdue = await vigil.alerts.raise_alert(nurse, NewAlert(
        priority=Priority.CRITICAL, message='Cardiac arrest', patient_id=world.a.patient_ids['North-2']))
    clock.advance(minutes=2)  # the critical alert is due for its first escalation step
    fall = await vigil.alerts.raise_alert(nurse, NewAlert(
        priority=Priority.HIGH, message='Patient fall', patient_id=world.a.patient_ids['North-1']))
    monitor = Actor.system('monitor 1', hospital_id=world.a.hospital_id)
    reading = VitalReadingIn(patient_mrn='alpha-South-1', kind=VitalKind.HEART_RATE, value=72, unit='/min',
                             measured_at=clock())

    async with vigil.db.uow() as slow:
        await slow.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='Recovery'))
        # While this transaction holds the database's write lock, a gateway posts vitals, a nurse acknowledges and
        # the watchdog escalates; the holder keeps its transaction open for several busy timeouts.
        vitals = asyncio.create_task(vigil.patients.record_vitals(monitor, [reading]))
        acknowledgement = asyncio.create_task(vigil.alerts.acknowledge(nurse, fall.id))
        escalation = asyncio.create_task(Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules).tick())
        await asyncio.wait([vitals, acknowledgement, escalation], timeout=HELD_SECONDS)
        # Reads (dashboards) are served meanwhile: they never wait for a writer.
        assert {a.id for a in await vigil.alerts.list_alerts(nurse)} == {overdue.id, fall.id}
        await slow.commit()
    stored, acknowledged, tick = await vitals, await acknowledgement, await escalation

    assert [(view.patient_id, view.value) for view in stored] == [(world.a.patient_ids['South-1'], 72)]
    assert acknowledged.status is AlertStatus.ACKNOWLEDGED
    assert [(alert.id, alert.escalation_level) for alert in tick.escalated] == [(overdue.id, 1)]
    assert await ward_name(vigil, world) == 'Recovery'
    async with vigil.db.read() as session:
        assert list(await session.scalars(select(VitalReading.source))) == ['monitor 1']


async def test_the_readiness_probe_answers_while_a_write_is_held(vigil: Vigil, world: World) -> None:
    async with vigil.db.uow() as slow:
        await slow.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='Recovery'))
        assert await database_problem(vigil) is None  # it reads: no wait for the write lock, no timeout
        await slow.commit()


async def test_writers_take_turns_in_arrival_order(vigil: Vigil, world: World) -> None:
    async with vigil.db.uow() as first:
        await first.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='first'))
        later = [asyncio.create_task(rename_ward(vigil, world, name)) for name in ('second', 'third', 'fourth')]
        await asyncio.wait(later, timeout=HELD_SECONDS)
        await first.commit()
    await asyncio.gather(*later)
    assert await ward_name(vigil, world) == 'fourth'


async def test_long_waits_for_a_turn_are_reported_once_not_per_writer(
        vigil: Vigil, world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.uow, 'SLOW_TURN_SECONDS', 0.0)  # every wait counts as long
    with caplog.at_level(logging.WARNING, logger='app.uow'):
        async with vigil.db.uow() as first:
            await first.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='first'))
            later = [asyncio.create_task(rename_ward(vigil, world, f'later {n}')) for n in range(5)]
            await asyncio.wait(later, timeout=HELD_SECONDS)
            await first.commit()
        await asyncio.gather(*later)
    assert len([r for r in caplog.records if 'for their turn' in r.getMessage()]) == 1


async def test_a_writer_that_fails_or_is_cancelled_hands_its_turn_on(vigil: Vigil, world: World) -> None:
    async def fail_while_writing() -> None:
        async with vigil.db.uow() as uow:
            await uow.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='lost'))
            raise LookupError('a domain error inside the transaction')

    with pytest.raises(LookupError):
        await fail_while_writing()

    holding = asyncio.Event()

    async def cancelled_while_writing() -> None:
        async with vigil.db.uow() as uow:
            await uow.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='lost'))
            holding.set()
            await asyncio.Event().wait()  # until cancelled

    holder = asyncio.create_task(cancelled_while_writing())
    await holding.wait()
    queued = asyncio.create_task(rename_ward(vigil, world, 'never'))  # cancelled while waiting for its turn
    await asyncio.wait([queued], timeout=HELD_SECONDS)
    queued.cancel()
    holder.cancel()
    await asyncio.gather(holder, queued, return_exceptions=True)
    assert holder.cancelled() and queued.cancelled()

    await rename_ward(vigil, world, 'Recovery')
    assert await ward_name(vigil, world) == 'Recovery'


async def test_a_unit_of_work_begun_inside_another_of_the_same_task_is_refused_at_once(
        vigil: Vigil, world: World) -> None:
    # It would wait for itself: on SQLite the inner one cannot write before the outer one ends.
    async with vigil.db.uow() as outer:
        await outer.session.execute(update(Ward).where(Ward.id == world.a.ward_ids['South']).values(name='outer'))
        with pytest.raises(NestedWrite):
            await rename_ward(vigil, world, 'inner')
        await outer.commit()
    assert await ward_name(vigil, world) == 'outer'
    await rename_ward(vigil, world, 'after')  # the turn was handed on
    assert await ward_name(vigil, world) == 'after'


async def test_a_writer_waits_for_another_process_on_the_busy_timeout(
        sqlite_url: str, clock: FakeClock, tmp_path: Path) -> None:
    # The CLI writing to the same file is another process: this one waits for it on SQLite's busy timeout (the real
    # one here), and its write goes through once the other commits.
    vigil = build(Settings(database_url=sqlite_url, data_dir=tmp_path), clock=clock)
    other = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
    try:
        hospital = await vigil.hospitals.create(slug='gamma', name='Gamma Hospital')
        other.execute('BEGIN IMMEDIATE')
        other.execute("INSERT INTO wards (hospital_id, name) VALUES (?, 'Annex')", (hospital.id,))
        # This process can write only once the other has committed; it waits on the busy timeout meanwhile.
        task = asyncio.create_task(vigil.hospitals.add_ward(hospital_slug='gamma', name='North'))
        await asyncio.wait([task], timeout=HELD_SECONDS)
        assert not task.done()
        other.execute('COMMIT')
        await task
        async with vigil.db.read() as session:
            assert sorted(await session.scalars(select(Ward.name).where(Ward.hospital_id == hospital.id))) == [
                'Annex', 'North']
    finally:
        other.close()
        await vigil.close()
