"""Group commit: readings of concurrent requests share one transaction, yet each request gets its own true answer,
is answered only once its readings are committed, and a bad request never sinks the others."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

import app.services.ingest
from app.bootstrap import Vigil
from app.domain import TokenKind, VitalKind
from app.events import VitalsRecorded
from app.events.models import AlertEventBase
from app.schemas import Actor, VitalReadingIn
from app.services.ingest import UnknownPatients
from data.models import ApiToken, TriggerState, VitalReading

from .api_support import Api, counts, open_api, reading
from .conftest import FakeClock, World


class Refused(Exception):
    """What the database hook below raises for the readings of one source."""


def vital(clock: FakeClock, mrn: str, kind: VitalKind, value: float, unit: str, minutes_ago: float = 1,
          ) -> VitalReadingIn:
    return VitalReadingIn(patient_mrn=mrn, kind=kind, value=value, unit=unit,
                          measured_at=clock() - timedelta(minutes=minutes_ago))


def device(world: World, name: str) -> Actor:
    return Actor.system(name, hospital_id=world.a.hospital_id)


@pytest.fixture
def refuse_source(vigil: Vigil) -> Iterator[set[str]]:
    """Sources whose readings the database refuses (a statement fails inside whatever transaction holds them)."""
    refused: set[str] = set()

    def check(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        rows = parameters if many else [parameters]
        if statement.lstrip().upper().startswith('INSERT INTO VITAL_READINGS') and any(
                value in refused for row in rows for value in (row.values() if isinstance(row, dict) else row)):
            raise Refused('the database refused this source')

    event.listen(vigil.engine.sync_engine, 'before_cursor_execute', check)
    yield refused
    event.remove(vigil.engine.sync_engine, 'before_cursor_execute', check)


async def stored_sources(vigil: Vigil) -> list[str]:
    async with vigil.db.read() as session:
        return sorted(await session.scalars(select(VitalReading.source)))


async def test_concurrent_requests_share_one_commit_and_each_gets_its_own_answer(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Any]) -> None:
    stale = vital(clock, 'alpha-North-2', VitalKind.HEART_RATE, 70, '/min', minutes_ago=60 * 30)
    requests = [
        (device(world, 'monitor 1'), [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 88, '/min')]),
        (device(world, 'monitor 2'), [vital(clock, 'alpha-North-2', VitalKind.SPO2, 97, '%'), stale]),
        (device(world, 'monitor 3'), [vital(clock, 'alpha-South-1', VitalKind.RESP_RATE, 16, '/min'),
                                      vital(clock, 'alpha-South-2', VitalKind.TEMPERATURE, 37.1, 'Cel')]),
    ]
    commits = vigil.patients.shared_commits

    answers = await asyncio.gather(*(vigil.patients.record_vitals(actor, readings) for actor, readings in requests))

    assert vigil.patients.shared_commits == commits + 1
    assert [[(view.patient_id, view.kind, view.value, view.history_only) for view in answer] for answer in answers] == [
        [(world.a.patient_ids['North-1'], VitalKind.HEART_RATE, 88, False)],
        [(world.a.patient_ids['North-2'], VitalKind.SPO2, 97, False),
         (world.a.patient_ids['North-2'], VitalKind.HEART_RATE, 70, True)],
        [(world.a.patient_ids['South-1'], VitalKind.RESP_RATE, 16, False),
         (world.a.patient_ids['South-2'], VitalKind.TEMPERATURE, 37.1, False)],
    ]
    assert await stored_sources(vigil) == ['monitor 1', 'monitor 2', 'monitor 2', 'monitor 3', 'monitor 3']
    await vigil.bus.drain()
    recorded = [e for e in received if isinstance(e, VitalsRecorded)]
    assert [(e.actor, e.patient.mrn) for e in recorded] == [
        ('monitor 1', 'alpha-North-1'), ('monitor 2', 'alpha-North-2'), ('monitor 3', 'alpha-South-1'),
        ('monitor 3', 'alpha-South-2')]
    assert [e.seq for e in recorded] == sorted(e.seq for e in recorded)
    assert VitalKind.HEART_RATE not in recorded[1].patient.latest  # history only: never the latest value


async def test_while_devices_post_concurrently_a_round_waits_for_as_many_requests_as_the_last_one_had(
        vigil: Vigil, world: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Longer than the test: the round goes ahead as soon as the second request has come, never on the timer.
    monkeypatch.setattr(app.services.ingest, 'GROUP_WINDOW_SECONDS', 600.0)
    monitors = [device(world, 'monitor 1'), device(world, 'monitor 2')]
    await asyncio.gather(*(vigil.patients.record_vitals(monitor, [vital(clock, mrn, VitalKind.HEART_RATE, 80, '/min')])
                           for monitor, mrn in zip(monitors, ('alpha-North-1', 'alpha-North-2'), strict=True)))
    commits = vigil.patients.shared_commits

    # The first monitor's answer came back: its next request comes a little before the other's, as over HTTP.
    first = asyncio.create_task(vigil.patients.record_vitals(
        monitors[0], [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 81, '/min')]))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done()  # not answered before it is committed
    second = await vigil.patients.record_vitals(
        monitors[1], [vital(clock, 'alpha-North-2', VitalKind.HEART_RATE, 82, '/min')])

    assert [view.value for view in [*await first, *second]] == [81, 82]
    assert vigil.patients.shared_commits == commits + 1
    assert await stored_sources(vigil) == ['monitor 1', 'monitor 1', 'monitor 2', 'monitor 2']


async def test_requests_about_the_same_patient_are_detected_one_after_the_other(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Any]) -> None:
    first = [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 88, '/min', minutes_ago=2)]
    second = [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 150, '/min', minutes_ago=1)]
    commits = vigil.patients.shared_commits

    await asyncio.gather(vigil.patients.record_vitals(device(world, 'monitor 1'), first),
                         vigil.patients.record_vitals(device(world, 'monitor 2'), second))

    assert vigil.patients.shared_commits == commits + 1
    await vigil.bus.drain()
    recorded = [e for e in received if isinstance(e, VitalsRecorded)]
    # Each request's event shows the patient as that request left it, in the order they came.
    assert [(e.actor, e.patient.latest[VitalKind.HEART_RATE].value) for e in recorded] == [
        ('monitor 1', 88), ('monitor 2', 150)]
    alerts = [e for e in received if isinstance(e, AlertEventBase)]
    # The critical heart rate alerts after the reading that caused it, as if the requests had committed one by one.
    assert alerts and all(e.seq > recorded[1].seq for e in alerts)
    assert recorded[0].seq < recorded[1].seq
    patient = await vigil.patients.get(world.a.actor('doctor'),
                                       world.a.patient_ids['North-1'])
    assert patient.latest[VitalKind.HEART_RATE].value == 150


async def spo2_states(vigil: Vigil, patient_id: int) -> list[tuple[Any, ...]]:
    async with vigil.db.read() as session:
        return sorted(tuple(row) for row in await session.execute(
            select(TriggerState.trigger, TriggerState.breach_since, TriggerState.readings, TriggerState.last_at)
            .where(TriggerState.patient_id == patient_id, TriggerState.trigger.like('%spo2%'))))


async def test_trigger_states_of_a_shared_transaction_end_as_if_its_requests_had_committed_one_by_one(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    # A stored breach ends, a new one begins, and it goes on: three requests about one patient, one after the other
    # alone for North-1, in one shared transaction for North-2.
    def requests(mrn: str) -> list[list[VitalReadingIn]]:
        return [[vital(clock, mrn, VitalKind.SPO2, value, '%', minutes_ago=minutes)]
                for value, minutes in ((97, 3), (88, 2), (89, 1))]

    for mrn in ('alpha-North-1', 'alpha-North-2'):  # the breach stored before
        await vigil.patients.record_vitals(device(world, 'monitor'), [vital(clock, mrn, VitalKind.SPO2, 88, '%', 4)])
    for alone in requests('alpha-North-1'):
        await vigil.patients.record_vitals(device(world, 'monitor'), alone)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if 'trigger_states' in statement and not statement.lstrip().upper().startswith('SELECT'):
            statements.append(statement)

    event.listen(vigil.engine.sync_engine, 'before_cursor_execute', count)
    try:
        commits = vigil.patients.shared_commits
        await asyncio.gather(*(vigil.patients.record_vitals(device(world, f'monitor {index}'), readings)
                               for index, readings in enumerate(requests('alpha-North-2'))))
    finally:
        event.remove(vigil.engine.sync_engine, 'before_cursor_execute', count)

    assert vigil.patients.shared_commits == commits + 1
    alone_states = await spo2_states(vigil, world.a.patient_ids['North-1'])
    assert alone_states and await spo2_states(vigil, world.a.patient_ids['North-2']) == alone_states
    # Only each state's end is written: one statement for the three requests (a delete and two upserts, request by
    # request).
    assert len(statements) == 1


async def test_a_request_announces_its_patients_in_id_order_whatever_the_order_of_its_readings(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Any]) -> None:
    await vigil.patients.record_vitals(device(world, 'monitor'), [
        vital(clock, 'alpha-South-1', VitalKind.HEART_RATE, 80, '/min'),
        vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 80, '/min'),
        vital(clock, 'alpha-South-1', VitalKind.SPO2, 97, '%')])

    await vigil.bus.drain()
    assert [e.patient.mrn for e in received if isinstance(e, VitalsRecorded)] == ['alpha-North-1', 'alpha-South-1']


async def test_a_request_with_an_unknown_patient_is_refused_alone(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    good = [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 88, '/min')]
    bad = [vital(clock, 'alpha-North-2', VitalKind.HEART_RATE, 80, '/min'),
           vital(clock, 'no-such-mrn', VitalKind.HEART_RATE, 80, '/min'),
           vital(clock, 'beta-East-1', VitalKind.HEART_RATE, 80, '/min')]  # another hospital's patient: unknown here

    results = await asyncio.gather(vigil.patients.record_vitals(device(world, 'good'), good),
                                   vigil.patients.record_vitals(device(world, 'bad'), bad), return_exceptions=True)

    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], UnknownPatients)
    assert results[1].mrns == {'no-such-mrn', 'beta-East-1'}
    assert await stored_sources(vigil) == ['good']


async def test_a_member_that_fails_the_shared_transaction_does_not_sink_the_others(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Any], refuse_source: set[str]) -> None:
    refuse_source.add('broken')
    requests = [(device(world, name), [vital(clock, mrn, VitalKind.HEART_RATE, 88, '/min')])
                for name, mrn in (('first', 'alpha-North-1'), ('broken', 'alpha-North-2'), ('last', 'alpha-South-1'))]
    commits = vigil.patients.shared_commits

    results = await asyncio.gather(*(vigil.patients.record_vitals(actor, readings) for actor, readings in requests),
                                   return_exceptions=True)

    assert [type(r).__name__ for r in results] == ['list', 'Refused', 'list']
    # The shared transaction rolled back whole; the two good requests were then committed one by one.
    assert vigil.patients.shared_commits == commits + 2
    assert await stored_sources(vigil) == ['first', 'last']
    await vigil.bus.drain()
    assert [e.actor for e in received if isinstance(e, VitalsRecorded)] == ['first', 'last']


async def test_after_a_failed_shared_transaction_an_unknown_patient_is_still_named(
        vigil: Vigil, world: World, clock: FakeClock, refuse_source: set[str]) -> None:
    refuse_source.add('broken')

    results = await asyncio.gather(
        vigil.patients.record_vitals(device(world, 'broken'), [vital(clock, 'alpha-North-1', VitalKind.SPO2, 95, '%')]),
        vigil.patients.record_vitals(device(world, 'lost'), [vital(clock, 'nobody', VitalKind.SPO2, 95, '%')]),
        vigil.patients.record_vitals(device(world, 'fine'), [vital(clock, 'alpha-North-2', VitalKind.SPO2, 95, '%')]),
        return_exceptions=True)

    assert [type(r).__name__ for r in results] == ['Refused', 'UnknownPatients', 'list']
    assert await stored_sources(vigil) == ['fine']


async def test_a_failing_commit_is_an_error_for_every_member_and_leaves_nothing(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Any]) -> None:
    before = await counts(vigil)

    def fail(conn: Any) -> None:
        raise Refused('the disk is full')

    event.listen(vigil.engine.sync_engine, 'commit', fail)
    try:
        results = await asyncio.gather(*(
            vigil.patients.record_vitals(device(world, f'monitor {n}'),
                                         [vital(clock, mrn, VitalKind.HEART_RATE, 150, '/min')])
            for n, mrn in enumerate(('alpha-North-1', 'alpha-North-2', 'alpha-North-1'))), return_exceptions=True)
    finally:
        event.remove(vigil.engine.sync_engine, 'commit', fail)

    assert [type(r).__name__ for r in results] == ['Refused'] * 3
    assert await counts(vigil) == before
    await vigil.bus.drain()
    assert received == []
    # The patients are not left locked or half-written: the next request goes through.
    await vigil.patients.record_vitals(device(world, 'later'), [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE,
                                                                      90, '/min')])
    assert await stored_sources(vigil) == ['later']


async def test_a_device_in_several_requests_of_one_commit_is_seen_once_in_the_ward_it_measured_last(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    monitor = await vigil.tokens.verify((await vigil.tokens.create(
        hospital_slug='alpha', kind=TokenKind.DEVICE, name='gateway')).secret)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(vigil.engine.sync_engine, 'before_cursor_execute', record)
    try:
        await asyncio.gather(
            vigil.patients.record_vitals(monitor, [vital(clock, 'alpha-North-1', VitalKind.HEART_RATE, 80, '/min')]),
            vigil.patients.record_vitals(monitor, [vital(clock, 'alpha-South-1', VitalKind.HEART_RATE, 80, '/min',
                                                         minutes_ago=0.5)]),
            vigil.patients.record_vitals(monitor, [vital(clock, 'alpha-North-2', VitalKind.HEART_RATE, 80, '/min',
                                                         minutes_ago=2)]))
    finally:
        event.remove(vigil.engine.sync_engine, 'before_cursor_execute', record)

    assert len([s for s in statements if s.lstrip().upper().startswith('UPDATE API_TOKENS')]) == 1
    async with vigil.db.read() as session:
        token = await session.get(ApiToken, monitor.token_id)
    assert token is not None
    assert (token.last_seen_at, token.last_ward_id) == (clock(), world.a.ward_ids['South'])


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def test_concurrent_api_requests_with_keys_and_bad_bodies_each_get_their_answer(api: Api, vigil: Vigil) -> None:
    await api.post('/api/v1/vitals', reading(mrn='alpha-South-2'))  # the token is checked and cached
    before = await counts(vigil)
    keyed = [reading(mrn='alpha-North-2', value=90)]

    responses = await asyncio.gather(
        api.post('/api/v1/vitals', [reading(), reading(kind='spo2', value=95, unit='%')], headers={
            'Idempotency-Key': 'one'}),
        api.post('/api/v1/vitals', keyed, headers={'Idempotency-Key': 'two'}),
        api.post('/api/v1/vitals', keyed, headers={'Idempotency-Key': 'two'}),  # a retry racing its original
        api.post('/api/v1/vitals', [reading(mrn='alpha-South-1'), reading(mrn='nobody')]),
        api.post('/api/v1/vitals', reading(mrn='alpha-South-1', value=-5)),
    )

    assert [r.status_code for r in responses] == [201, 201, 201, 422, 422]
    assert responses[0].json() == {'accepted': 2, 'history_only': []}
    assert responses[1].json() == responses[2].json() == {'accepted': 1, 'history_only': []}
    assert sorted(r.headers.get('Idempotent-Replayed', '') for r in responses[1:3]) == ['', 'true']
    assert responses[3].json()['detail'][0]['index'] == 1
    assert responses[3].json()['detail'][0]['patient_mrn'] == 'nobody'
    after = await counts(vigil)
    assert after['VitalReading'] == before['VitalReading'] + 3
    assert after['IdempotencyKey'] == before['IdempotencyKey'] + 2
