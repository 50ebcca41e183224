"""The event bus and the unit of work: typed events, isolated subscribers, publish-after-commit, gap-free order."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, Priority, VitalKind
from app.errors import InvalidInput
from app.events import (
    EVENT_TYPES,
    AlertAcknowledged,
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    AlertReactivated,
    AlertResolved,
    AlertRetriggered,
    AlertSnoozed,
    AlertUpdated,
    BaseEvent,
    Event,
    EventBus,
    MemoryTransport,
    PatientUpdated,
    VitalsRecorded,
    from_json,
    from_payload,
    to_json,
)
from app.events.models import event_payload
from app.events.redis_transport import RedisTransport
from app.schemas import Actor, AlertView, NewAlert, PatientView, VitalReadingIn, VitalReadingView, VitalValue
from data.models import EventLogEntry, Hospital, Ward

from .conftest import REDIS_URL, World

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
GUARD_SECONDS = 10  # fails a hung test fast; never waited for when things work


# --- sample events ----------------------------------------------------------------------------------------------------

def sample_alert(hospital_id: int = 1, alert_id: int = 7, **changes: Any) -> AlertView:
    fields: dict[str, Any] = dict(
        id=alert_id, hospital_id=hospital_id, ward_id=3, ward_name='North', patient_id=11,
        patient_name='Patient North-1', patient_mrn='alpha-North-1', bed='North-1', kind=AlertKind.NEWS2,
        priority=Priority.HIGH, status=AlertStatus.ACTIVE, message='NEWS2 score 7 (RR 25, SpO2 91 %)',
        dedup_key='news2:11', occurrences=1, escalation_level=0, next_escalation_at=NOW + timedelta(minutes=5),
        created_at=NOW, created_by='token:monitor-3', last_triggered_at=NOW, acknowledged_at=None,
        acknowledged_by=None, resolved_at=None, resolved_by=None, version=1,
    )
    return AlertView(**(fields | changes))


def sample_patient(hospital_id: int = 1) -> PatientView:
    return PatientView(id=11, hospital_id=hospital_id, ward_id=3, ward_name='North', mrn='alpha-North-1',
                       name='Patient North-1', bed='North-1', spo2_scale=2, latest={
                           VitalKind.SPO2: VitalValue(value=91.0, unit='%', measured_at=NOW),
                           VitalKind.TEMPERATURE: VitalValue(value=38.35, unit='Cel', measured_at=NOW),
                       })


LATER = NOW + timedelta(minutes=3)
ALERT_CHANGES: dict[type[BaseEvent], dict[str, Any]] = {
    AlertRaised: {},
    AlertRetriggered: dict(occurrences=3, last_triggered_at=LATER, priority=Priority.CRITICAL, version=3),
    AlertAcknowledged: dict(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=LATER, acknowledged_by='alpha-nurse',
                            next_escalation_at=None, version=2),
    AlertResolved: dict(status=AlertStatus.RESOLVED, resolved_at=LATER, resolved_by='Dr Grey (via token:epic)',
                        next_escalation_at=None, version=3),
    AlertEscalated: dict(escalation_level=1, next_escalation_at=NOW + timedelta(minutes=15), version=2),
    AlertSnoozed: dict(snoozed_until=NOW + timedelta(minutes=30), version=2),
    AlertCleared: dict(cleared_at=LATER, version=2),
    AlertReactivated: dict(priority=Priority.CRITICAL, status=AlertStatus.ACTIVE, acknowledged_at=None,
                           acknowledged_by=None, next_escalation_at=LATER + timedelta(minutes=2), version=4),
    AlertUpdated: dict(message='NEWS2 6 (medium risk, urgent response): heart rate 131 /min (3)', version=3),
}


def sample_event(event_type: type[BaseEvent], *, hospital_id: int = 1, seq: int = 1) -> BaseEvent:
    """Build a realistic instance of any event type (fails on a new type nobody taught this helper)."""
    common: dict[str, Any] = dict(hospital_id=hospital_id, ward_id=3, seq=seq, occurred_at=LATER, actor='alpha-nurse')
    if event_type is VitalsRecorded:
        readings = tuple(VitalReadingView(patient_id=11, kind=kind, value=value, unit=unit,
                                          measured_at=NOW, source='token:monitor-3')
                         for kind, value, unit in [(VitalKind.SPO2, 91.0, '%'), (VitalKind.TEMPERATURE, 38.35, 'Cel')])
        return VitalsRecorded(**common, patient=sample_patient(hospital_id), readings=readings)
    if event_type is PatientUpdated:
        return PatientUpdated(**common, patient=sample_patient(hospital_id),
                              change='SpO2 scale 2 prescribed (target 88-92 %): hypercapnic respiratory failure')
    return event_type(**common, alert=sample_alert(hospital_id, **ALERT_CHANGES[event_type]))


def raised(seq: int, hospital_id: int = 1) -> AlertRaised:
    return AlertRaised(hospital_id=hospital_id, ward_id=3, seq=seq, occurred_at=NOW, actor='test',
                       alert=sample_alert(hospital_id, alert_id=seq))


def seqs(events: list[Event]) -> list[int]:
    return [e.seq for e in events]


@pytest.fixture(params=['memory', pytest.param('redis', marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    """A bus of its own on each transport (Redis: a channel prefix of this test alone); no database needed."""
    if request.param == 'memory':
        bus = EventBus()
    else:
        bus = EventBus(RedisTransport(REDIS_URL, prefix=request.getfixturevalue('redis_prefix')))
    await bus.start()
    await connected(bus)
    yield bus
    await bus.close()


async def connected(bus: EventBus) -> None:
    """Wait until the bus's transport carries events (the Redis subscription is confirmed)."""
    async with asyncio.timeout(GUARD_SECONDS):
        while await bus.problem() is not None:  # noqa: ASYNC110 (the listener task subscribes)
            await asyncio.sleep(0.02)


# --- serialisation ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('event_type', EVENT_TYPES, ids=lambda t: t.__name__)
def test_every_event_type_survives_json_and_the_event_log(event_type: type[BaseEvent]) -> None:
    event = sample_event(event_type)
    assert from_json(to_json(event)) == event
    assert from_json(to_json(event).encode()) == event
    assert from_payload(event_payload(event)) == event
    assert type(from_json(to_json(event))) is event_type


def test_events_are_frozen() -> None:
    event = raised(1)
    with pytest.raises(ValueError, match='frozen'):
        event.seq = 2  # type: ignore[misc]


async def test_garbage_payload_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    transport = MemoryTransport()
    bus = EventBus(transport)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    await bus.start()
    for garbage in ('not json', '{"type": "AlertExploded", "hospital_id": 1}', to_json(raised(1))[:-5]):
        await transport.publish(1, garbage)
    await bus.publish(raised(2))
    await bus.drain()
    await bus.close()

    assert seqs(seen) == [2]
    assert [r.levelno for r in caplog.records if 'does not parse' in r.message] == [logging.ERROR] * 3


# --- isolation of subscribers -----------------------------------------------------------------------------------------

async def test_failing_handler_does_not_stop_delivery(bus: EventBus, caplog: pytest.LogCaptureFixture) -> None:
    """A handler that raises is logged; it keeps receiving later events and the others receive everything."""
    failing_saw: list[int] = []

    def failing(event: Event) -> None:
        failing_saw.append(event.seq)
        raise RuntimeError('handler bug')

    async def failing_async(event: Event) -> None:
        raise RuntimeError('async handler bug')

    healthy: list[Event] = []
    bus.subscribe(failing, name='failing')
    bus.subscribe(failing_async, name='failing-async')
    bus.subscribe(healthy.append, name='healthy')
    for seq in (1, 2, 3):
        await bus.publish(raised(seq))
    await bus.drain()

    assert failing_saw == [1, 2, 3]
    assert seqs(healthy) == [1, 2, 3]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 6
    assert all(r.exc_info for r in failures)
    assert 'event subscriber failing failed on AlertRaised seq 1' in caplog.text


async def test_slow_subscriber_never_blocks_and_drops_its_oldest_events(
        bus: EventBus, caplog: pytest.LogCaptureFixture) -> None:
    release, busy = asyncio.Event(), asyncio.Event()
    slow_saw: list[int] = []

    async def slow(event: Event) -> None:
        slow_saw.append(event.seq)
        busy.set()
        await release.wait()

    slow_subscription = bus.subscribe(slow, name='slow', queue_size=3)
    fast: list[Event] = []
    fast_subscription = bus.subscribe(fast.append, name='fast')

    await bus.publish(raised(1))
    await busy.wait()  # the slow handler now holds event 1 and waits for the test
    async with asyncio.timeout(GUARD_SECONDS):
        for seq in range(2, 11):
            await bus.publish(raised(seq))  # returns although the slow subscriber takes nothing
        await bus.flush()
        await fast_subscription.queue.join()

    assert seqs(fast) == list(range(1, 11))
    assert slow_saw == [1]
    assert slow_subscription.dropped == 6  # 2..7 pushed out by 8, 9, 10
    assert [r.levelno for r in caplog.records if 'too slow' in r.message] == [logging.WARNING]

    release.set()
    await bus.drain()
    assert slow_saw == [1, 8, 9, 10]
    assert slow_subscription.dropped == 6


async def test_unsubscribe_stops_delivery_and_is_idempotent(bus: EventBus) -> None:
    seen: list[Event] = []
    subscription = bus.subscribe(seen.append)
    other = bus.subscribe(lambda event: None)
    assert bus.subscriber_count == 2

    await bus.publish(raised(1))
    await bus.drain()
    subscription.unsubscribe()
    subscription.unsubscribe()
    subscription()
    assert not subscription.active
    assert bus.subscriber_count == 1

    await bus.publish(raised(2))
    await bus.drain()
    assert seqs(seen) == [1]
    other()
    assert bus.subscriber_count == 0


async def test_unsubscribe_discards_queued_events_without_hanging_drain(bus: EventBus) -> None:
    seen: list[int] = []
    busy = asyncio.Event()

    async def stuck(event: Event) -> None:
        seen.append(event.seq)
        busy.set()
        await asyncio.Event().wait()  # a handler that never finishes (a hung page)

    subscription = bus.subscribe(stuck)
    for seq in (1, 2, 3):
        await bus.publish(raised(seq))
    await bus.flush()
    async with asyncio.timeout(GUARD_SECONDS):
        await busy.wait()
    assert subscription.queue.qsize() == 2  # events 2 and 3 wait behind the stuck one
    subscription()
    async with asyncio.timeout(GUARD_SECONDS):
        await bus.drain()
    assert seen == [1]


async def test_close_stops_every_subscriber(bus: EventBus) -> None:
    subscriptions = [bus.subscribe(lambda event: None, name=f'page-{i}') for i in range(3)]
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith('vigil-subscriber-page-')]
    assert len(tasks) == 3

    await bus.close()

    assert bus.subscriber_count == 0
    assert not any(s.active for s in subscriptions)
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(t.cancelled() for t in tasks)


async def test_subscriber_sees_only_its_hospital(bus: EventBus) -> None:
    of_a: list[Event] = []
    of_b: list[Event] = []
    everything: list[Event] = []
    bus.subscribe(of_a.append, hospital_id=1)
    bus.subscribe(of_b.append, hospital_id=2)
    bus.subscribe(everything.append)
    for seq in (1, 2, 3):
        await bus.publish(raised(seq, hospital_id=1))
        await bus.publish(raised(seq, hospital_id=2))
    await bus.drain()

    assert [(e.hospital_id, e.seq) for e in of_a] == [(1, 1), (1, 2), (1, 3)]
    assert [(e.hospital_id, e.seq) for e in of_b] == [(2, 1), (2, 2), (2, 3)]
    assert len(everything) == 6


async def test_a_signal_reaches_every_signal_handler_once(bus: EventBus) -> None:
    heard: list[dict[str, object]] = []
    bus.on_signal(heard.append)
    bus.on_signal(lambda message: 1 / 0)  # a broken handler is logged and harms no one
    await bus.signal('signed_out', hospital_id=1, user_id=7)
    await bus.flush()
    assert heard == [{'kind': 'signed_out', 'hospital_id': 1, 'user_id': 7}]


async def test_drain_waits_for_events_that_handlers_publish(bus: EventBus) -> None:
    """drain() returns only when events published by handlers themselves have been handled by everyone."""
    handled: list[int] = []

    async def page(event: Event) -> None:
        for _ in range(3):
            await asyncio.sleep(0)  # a handler awaiting I/O (e.g. a database read)
        handled.append(event.seq)

    async def follow_up(event: Event) -> None:
        if event.seq == 1:
            for _ in range(10):
                await asyncio.sleep(0)  # slower I/O than the page's, so the page is idle when event 2 arrives
            await bus.publish(raised(2))

    bus.subscribe(page, name='page')
    bus.subscribe(follow_up, name='follow-up')
    await bus.publish(raised(1))
    async with asyncio.timeout(GUARD_SECONDS):
        await bus.drain()
    assert handled == [1, 2]


# --- the real services: order, sequence numbers, event log ------------------------------------------------------------

async def event_log(vigil: Vigil) -> list[EventLogEntry]:
    async with vigil.db.read() as session:
        return list(await session.scalars(select(EventLogEntry).order_by(EventLogEntry.hospital_id,
                                                                          EventLogEntry.seq)))


async def event_seqs(vigil: Vigil) -> dict[int, int]:
    async with vigil.db.read() as session:
        return {row.id: row.event_seq for row in await session.execute(select(Hospital.id, Hospital.event_seq))}


async def assert_log_matches(vigil: Vigil, published: list[Event]) -> None:
    """Every published event has its event_log row (same seq and payload), and the log holds nothing else."""
    rows = {(row.hospital_id, row.seq): row for row in await event_log(vigil)}
    assert sorted(rows) == sorted((e.hospital_id, e.seq) for e in published)
    for event in published:
        row = rows[event.hospital_id, event.seq]
        assert row.type == event.type
        assert row.payload == event_payload(event)
        assert from_payload(row.payload) == event
    last = {e.hospital_id: e.seq for e in published}
    assert {h: s for h, s in (await event_seqs(vigil)).items() if s} == last


def vitals(mrn: str, spo2: float, at: datetime) -> list[VitalReadingIn]:
    return [VitalReadingIn(patient_mrn=mrn, kind=VitalKind.SPO2, value=spo2, unit='%', measured_at=at),
            VitalReadingIn(patient_mrn=mrn, kind=VitalKind.HEART_RATE, value=118, unit='/min', measured_at=at)]


async def test_events_arrive_in_order_with_gap_free_seqs_per_hospital(vigil: Vigil, world: World,
                                                                      received: list[Event]) -> None:
    of_a: list[Event] = []
    of_b: list[Event] = []
    vigil.bus.subscribe(of_a.append, hospital_id=world.a.hospital_id)
    vigil.bus.subscribe(of_b.append, hospital_id=world.b.hospital_id)
    expected: list[tuple[int, str, int]] = []  # (hospital, event type, alert or patient id) in the order done

    for round_ in range(4):
        for side, ward in ((world.a, 'North'), (world.b, 'East')):
            nurse = side.actor('nurse')
            patient_id = side.patient_ids[f'{ward}-{round_ % 2 + 1}']
            alert = await vigil.alerts.raise_alert(nurse, NewAlert(
                priority=Priority.HIGH, message=f'round {round_}', patient_id=patient_id))
            expected.append((side.hospital_id, 'AlertRaised', alert.id))
            if round_ % 2:
                await vigil.alerts.acknowledge(nurse, alert.id)
                expected.append((side.hospital_id, 'AlertAcknowledged', alert.id))
            await vigil.alerts.escalate(nurse, alert.id)
            expected.append((side.hospital_id, 'AlertEscalated', alert.id))
            await vigil.alerts.resolve(nurse, alert.id, note='settled')
            expected.append((side.hospital_id, 'AlertResolved', alert.id))
            await vigil.patients.record_vitals(nurse, vitals(f'{side.slug}-{ward}-1', 95, vigil.clock()))
            expected.append((side.hospital_id, 'VitalsRecorded', side.patient_ids[f'{ward}-1']))
    await vigil.bus.drain()

    def subject(event: Event) -> int:
        return event.patient.id if isinstance(event, VitalsRecorded) else event.alert.id

    assert [(e.hospital_id, e.type, subject(e)) for e in received] == expected
    for side, events in ((world.a, of_a), (world.b, of_b)):
        assert events == [e for e in received if e.hospital_id == side.hospital_id]
        assert seqs(events) == list(range(1, len(events) + 1))
    await assert_log_matches(vigil, received)


async def test_event_carries_the_committed_snapshot(vigil: Vigil, world: World, received: list[Event]) -> None:
    nurse = world.a.actor('nurse')
    alert = await vigil.alerts.raise_alert(nurse, NewAlert(priority=Priority.CRITICAL, message='SpO2 84 %',
                                                           patient_id=world.a.patient_ids['North-1']))
    acknowledged = await vigil.alerts.acknowledge(nurse, alert.id)
    await vigil.bus.drain()

    assert [e.alert for e in received if isinstance(e, AlertRaised | AlertAcknowledged)] == [alert, acknowledged]
    assert received[-1].alert == await vigil.alerts.get(nurse, alert.id)
    assert (received[-1].ward_id, received[-1].actor) == (alert.ward_id, 'Nurse (alpha-nurse)')


async def test_publish_happens_only_after_commit(vigil: Vigil, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the moment an event is handed to the transport, another connection already sees it committed."""
    committed_at_publish: list[bool] = []
    publish = vigil.bus.publish

    async def checking_publish(event: BaseEvent, payload: str | None = None) -> None:
        async with vigil.db.read() as session:
            row = await session.get(EventLogEntry, (event.hospital_id, event.seq))
        committed_at_publish.append(row is not None)
        await publish(event, payload)

    monkeypatch.setattr(vigil.bus, 'publish', checking_publish)
    nurse = world.a.actor('nurse')
    alert = await vigil.alerts.raise_alert(nurse, NewAlert(priority=Priority.HIGH, message='fall',
                                                           patient_id=world.a.patient_ids['North-1']))
    await vigil.alerts.resolve(nurse, alert.id)
    await vigil.patients.record_vitals(nurse, vitals('alpha-North-2', 97, vigil.clock()))
    assert committed_at_publish == [True, True, True]


# --- the unit of work: nothing published for what was not committed ---------------------------------------------------

class Refused(Exception):
    pass


async def test_uncommitted_unit_of_work_publishes_nothing(vigil: Vigil, world: World, received: list[Event]) -> None:
    async with vigil.db.uow() as uow:
        uow.emit(sample_event(AlertRaised, hospital_id=world.a.hospital_id, seq=0))
    with pytest.raises(Refused):
        async with vigil.db.uow() as uow:
            uow.emit(sample_event(AlertRaised, hospital_id=world.a.hospital_id, seq=0))
            raise Refused('a domain rule failed after the event was queued')
    await vigil.bus.drain()

    assert received == []
    assert vigil.bus.published == 0
    assert await event_log(vigil) == []
    assert set((await event_seqs(vigil)).values()) == {0}


async def test_failed_commit_publishes_nothing(vigil: Vigil, world: World, received: list[Event],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(IntegrityError):
        async with vigil.db.uow() as uow:
            uow.emit(sample_event(AlertRaised, hospital_id=world.a.hospital_id, seq=0))
            uow.session.add(Ward(hospital_id=world.a.hospital_id, name='North'))  # duplicate ward name
            await uow.commit()

    async def lost_connection() -> None:
        raise ConnectionResetError('connection lost during COMMIT')

    with pytest.raises(ConnectionResetError):
        async with vigil.db.uow() as uow:
            uow.emit(sample_event(AlertRaised, hospital_id=world.a.hospital_id, seq=0))
            monkeypatch.setattr(uow.session, 'commit', lost_connection)
            await uow.commit()  # numbers and logs the event in the transaction, then the commit fails
    await vigil.bus.drain()

    assert received == []
    assert vigil.bus.published == 0
    assert await event_log(vigil) == []
    assert set((await event_seqs(vigil)).values()) == {0}


async def test_refused_service_call_publishes_nothing(vigil: Vigil, world: World, received: list[Event]) -> None:
    with pytest.raises(InvalidInput):
        await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
            priority=Priority.HIGH, message='wrong ward', patient_id=world.a.patient_ids['North-1'],
            ward_id=world.a.ward_ids['South']))
    alert = await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='right ward', patient_id=world.a.patient_ids['North-1']))
    await vigil.bus.drain()
    assert [(e.type, e.seq, e.alert.id) for e in received] == [('AlertRaised', 1, alert.id)]
    await assert_log_matches(vigil, received)


async def test_one_unit_of_work_numbers_each_hospital_separately(vigil: Vigil, world: World,
                                                                 received: list[Event]) -> None:
    a, b = world.a.hospital_id, world.b.hospital_id
    async with vigil.db.uow() as uow:
        for hospital_id in (a, b, a, a, b):
            uow.emit(sample_event(AlertRaised, hospital_id=hospital_id, seq=0))
        published = await uow.commit()
    await vigil.bus.drain()

    assert [(e.hospital_id, e.seq) for e in published] == [(a, 1), (b, 1), (a, 2), (a, 3), (b, 2)]
    assert received == published
    await assert_log_matches(vigil, received)


async def test_subscriber_that_publishes_does_not_deadlock(vigil: Vigil, world: World,
                                                           received: list[Event]) -> None:
    """A handler that raises a follow-up alert through the services (publishing in turn) completes."""
    rapid_response = Actor.system('rapid-response', hospital_id=world.a.hospital_id)
    page_saw: list[tuple[int, AlertStatus]] = []

    async def call_rapid_response(event: Event) -> None:
        if isinstance(event, AlertRaised) and event.alert.priority is Priority.CRITICAL:
            await vigil.alerts.raise_alert(rapid_response, NewAlert(
                priority=Priority.HIGH, message='Rapid response team called', ward_id=event.ward_id,
                dedup_key=f'rrt:{event.alert.id}'))

    async def page(event: Event) -> None:
        if isinstance(event, AlertRaised):  # like a dashboard that reloads what it shows from the database
            page_saw.append((event.seq, (await vigil.alerts.get(rapid_response, event.alert.id)).status))

    vigil.bus.subscribe(call_rapid_response, hospital_id=world.a.hospital_id, name='rapid-response')
    vigil.bus.subscribe(page, hospital_id=world.a.hospital_id, name='page')
    async with asyncio.timeout(GUARD_SECONDS):
        await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
            priority=Priority.CRITICAL, message='Cardiac arrest', patient_id=world.a.patient_ids['North-1']))
        await vigil.bus.drain()

    assert [(e.seq, e.alert.message) for e in received] == [(1, 'Cardiac arrest'),
                                                             (2, 'Rapid response team called')]
    assert page_saw == [(1, AlertStatus.ACTIVE), (2, AlertStatus.ACTIVE)]
    await assert_log_matches(vigil, received)


async def test_concurrent_raises_get_distinct_gap_free_seqs(vigil: Vigil, world: World,
                                                            received: list[Event]) -> None:
    nurses = {side.hospital_id: side.actor('nurse') for side in (world.a, world.b)}
    requests = [(world.a.hospital_id, NewAlert(priority=Priority.HIGH, message=f'call bell {i}',
                                               patient_id=world.a.patient_ids[f'North-{i % 2 + 1}']))
                for i in range(8)]
    requests += [(world.b.hospital_id, NewAlert(priority=Priority.MEDIUM, message=f'call bell {i}',
                                                patient_id=world.b.patient_ids['East-1'])) for i in range(4)]

    alerts = await asyncio.gather(*(vigil.alerts.raise_alert(nurses[h], r) for h, r in requests))
    await vigil.bus.drain()

    assert len({a.id for a in alerts}) == len(requests)
    for hospital_id, count in ((world.a.hospital_id, 8), (world.b.hospital_id, 4)):
        events = [e for e in received if e.hospital_id == hospital_id]
        assert seqs(events) == list(range(1, count + 1))  # distinct, gap-free, and published in seq order
    await assert_log_matches(vigil, received)


async def test_concurrent_duplicates_publish_one_raise_then_retriggers_in_seq_order(
        vigil: Vigil, world: World, received: list[Event]) -> None:
    """Devices re-sending one dedup key at once: one alert, every occurrence counted, gap-free seqs."""
    nurse = world.a.actor('nurse')
    request = NewAlert(priority=Priority.HIGH, message='SpO2 88 %', kind=AlertKind.CRITICAL_VALUE,
                       patient_id=world.a.patient_ids['North-1'], dedup_key='spo2:North-1')

    alerts = await asyncio.gather(*(vigil.alerts.raise_alert(nurse, request) for _ in range(5)))
    await vigil.bus.drain()

    assert len({a.id for a in alerts}) == 1
    assert sorted(a.occurrences for a in alerts) == [1, 2, 3, 4, 5]
    assert [e.type for e in received] == ['AlertRaised'] + ['AlertRetriggered'] * 4
    assert seqs(received) == [1, 2, 3, 4, 5]
    await assert_log_matches(vigil, received)


async def test_each_patient_gets_one_vitals_event_and_log_row(
        vigil: Vigil, world: World, received: list[Event]) -> None:
    nurse = world.a.actor('nurse')
    await vigil.patients.record_vitals(nurse, vitals('alpha-North-1', 96, vigil.clock())
                                       + vitals('alpha-North-2', 93, vigil.clock()))
    await vigil.bus.drain()
    assert [e.type for e in received] == ['VitalsRecorded', 'VitalsRecorded']
    async with vigil.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EventLogEntry)) == vigil.bus.published == 2
    await assert_log_matches(vigil, received)
