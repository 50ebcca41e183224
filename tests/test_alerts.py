"""Alert life cycle through the service layer, on SQLite and PostgreSQL."""

import asyncio

import pytest
from sqlalchemy import func, select

from app.bootstrap import Vigil
from app.domain import AlertEventType, AlertStatus, Priority, TokenKind
from app.errors import (
    AlertAlreadyAcknowledged,
    AlertAlreadyResolved,
    Conflict,
    InvalidInput,
    NotAllowed,
    StaleVersion,
)
from app.events import Event
from app.schemas import Actor, AlertFilter, AlertView, NewAlert
from data.models import AlertEvent

from .conftest import FakeClock, World


async def raise_for(vigil: Vigil, world: World, *, priority: Priority = Priority.HIGH, bed: str = 'North-1',
                    dedup_key: str | None = None, message: str = 'Patient fall') -> AlertView:
    return await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=priority, message=message, patient_id=world.a.patient_ids[bed], dedup_key=dedup_key))


async def audit_types(vigil: Vigil, alert_id: int) -> list[AlertEventType]:
    return [e.type for e in await vigil.alerts.audit_trail(Actor.system(), alert_id)]


async def test_raised_alert_is_active_with_its_patient_and_an_audit_entry(
        vigil: Vigil, world: World, received: list[Event], clock: FakeClock) -> None:
    alert = await raise_for(vigil, world, priority=Priority.CRITICAL, message='Code Blue')
    assert (alert.status, alert.priority, alert.message) == (AlertStatus.ACTIVE, Priority.CRITICAL, 'Code Blue')
    assert (alert.patient_name, alert.bed, alert.ward_name) == ('Patient North-1', 'North-1', 'North')
    assert (alert.occurrences, alert.escalation_level, alert.version) == (1, 0, 1)
    assert alert.created_by == 'Nurse (alpha-nurse)'
    assert alert.next_escalation_at is not None and (alert.next_escalation_at - clock()).total_seconds() == 120
    assert await audit_types(vigil, alert.id) == [AlertEventType.RAISED]
    await vigil.bus.drain()
    assert [(e.type, e.alert.id) for e in received] == [('AlertRaised', alert.id)]  # type: ignore[union-attr]


async def test_ward_alert_without_patient(vigil: Vigil, world: World) -> None:
    alert = await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.MEDIUM, message='Assistance needed', ward_id=world.a.ward_ids['North']))
    assert alert.patient_id is None and alert.ward_name == 'North'


@pytest.mark.parametrize('request_kwargs, error', [
    ({}, 'needs a patient or a ward'),
    ({'patient_id': 'North-1', 'ward_id': 'South'}, 'is not on ward'),
])
async def test_alert_needs_a_consistent_patient_or_ward(
        vigil: Vigil, world: World, received: list[Event], request_kwargs: dict[str, str], error: str) -> None:
    kwargs = {k: (world.a.patient_ids[v] if k == 'patient_id' else world.a.ward_ids[v])
              for k, v in request_kwargs.items()}
    with pytest.raises(InvalidInput, match=error):
        await vigil.alerts.raise_alert(world.a.actor('admin'), NewAlert(priority=Priority.LOW, message='x', **kwargs))
    assert await vigil.alerts.list_alerts(world.a.actor('admin')) == []
    await vigil.bus.drain()
    assert received == []


async def test_acknowledge_then_resolve(vigil: Vigil, world: World, received: list[Event], clock: FakeClock) -> None:
    alert = await raise_for(vigil, world)
    clock.advance(seconds=40)
    acked = await vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id, expected_version=alert.version,
                                           note='on my way')
    assert (acked.status, acked.acknowledged_by, acked.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED, 'Nurse (alpha-nurse)', clock())
    assert acked.next_escalation_at is None and acked.version == alert.version + 1
    clock.advance(minutes=3)
    resolved = await vigil.alerts.resolve(world.a.actor('charge'), alert.id, expected_version=acked.version)
    assert (resolved.status, resolved.resolved_by, resolved.resolved_at) == (
        AlertStatus.RESOLVED, 'Charge (alpha-charge)', clock())
    trail = await vigil.alerts.audit_trail(world.a.actor('admin'), alert.id)
    assert [(e.type, e.from_status, e.to_status, e.actor) for e in trail] == [
        (AlertEventType.RAISED, None, AlertStatus.ACTIVE, 'Nurse (alpha-nurse)'),
        (AlertEventType.ACKNOWLEDGED, AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED, 'Nurse (alpha-nurse)'),
        (AlertEventType.RESOLVED, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED, 'Charge (alpha-charge)'),
    ]
    assert trail[1].note == 'on my way'
    await vigil.bus.drain()
    assert [e.type for e in received] == ['AlertRaised', 'AlertAcknowledged', 'AlertResolved']


async def test_resolve_straight_from_active(vigil: Vigil, world: World) -> None:
    alert = await raise_for(vigil, world)
    resolved = await vigil.alerts.resolve(world.a.actor('nurse'), alert.id)
    assert resolved.status is AlertStatus.RESOLVED and resolved.acknowledged_at is None


async def assert_unchanged(vigil: Vigil, before: AlertView, received: list[Event], events_before: int) -> None:
    after = await vigil.alerts.get(Actor.system(), before.id)
    assert after == before
    await vigil.bus.drain()
    assert len(received) == events_before


async def test_illegal_transitions_are_refused_and_change_nothing(
        vigil: Vigil, world: World, received: list[Event]) -> None:
    nurse = world.a.actor('nurse')
    acked = await vigil.alerts.acknowledge(nurse, (await raise_for(vigil, world, bed='North-1')).id)
    resolved = await vigil.alerts.resolve(nurse, (await raise_for(vigil, world, bed='North-2')).id)
    await vigil.bus.drain()
    count = len(received)
    trail_lengths = {a.id: len(await audit_types(vigil, a.id)) for a in (acked, resolved)}

    with pytest.raises(AlertAlreadyAcknowledged, match=f'Alert {acked.id} is already acknowledged'):
        await vigil.alerts.acknowledge(nurse, acked.id)
    with pytest.raises(AlertAlreadyResolved, match='already resolved and cannot be acknowledged'):
        await vigil.alerts.acknowledge(nurse, resolved.id)
    with pytest.raises(AlertAlreadyResolved, match=f'Alert {resolved.id} is already resolved'):
        await vigil.alerts.resolve(nurse, resolved.id)
    with pytest.raises(AlertAlreadyResolved, match='cannot be escalated'):
        await vigil.alerts.escalate(nurse, resolved.id)

    await assert_unchanged(vigil, acked, received, count)
    await assert_unchanged(vigil, resolved, received, count)
    assert {a.id: len(await audit_types(vigil, a.id)) for a in (acked, resolved)} == trail_lengths


async def test_stale_version_is_a_conflict_and_changes_nothing(
        vigil: Vigil, world: World, received: list[Event]) -> None:
    alert = await raise_for(vigil, world)
    await vigil.alerts.escalate(world.a.actor('charge'), alert.id, expected_version=alert.version)
    current = await vigil.alerts.get(Actor.system(), alert.id)
    await vigil.bus.drain()
    count = len(received)
    with pytest.raises(StaleVersion, match='changed by someone else'):
        await vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id, expected_version=alert.version)
    await assert_unchanged(vigil, current, received, count)


async def test_two_concurrent_acknowledges_of_one_version_one_wins(
        vigil: Vigil, world: World, received: list[Event]) -> None:
    alert = await raise_for(vigil, world)
    results = await asyncio.gather(
        vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id, expected_version=alert.version),
        vigil.alerts.acknowledge(world.a.actor('charge'), alert.id, expected_version=alert.version),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, AlertView)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], Conflict), repr(losers[0])
    assert str(alert.id) in str(losers[0])
    assert await audit_types(vigil, alert.id) == [AlertEventType.RAISED, AlertEventType.ACKNOWLEDGED]
    final = await vigil.alerts.get(Actor.system(), alert.id)
    assert final.acknowledged_by == winners[0].acknowledged_by and final.version == alert.version + 1
    await vigil.bus.drain()
    assert [e.type for e in received] == ['AlertRaised', 'AlertAcknowledged']


async def test_same_dedup_key_counts_occurrences_instead_of_a_second_alert(
        vigil: Vigil, world: World, received: list[Event], clock: FakeClock) -> None:
    first = await raise_for(vigil, world, dedup_key='news2:North-1:7plus', priority=Priority.HIGH)
    clock.advance(minutes=1)
    again = await raise_for(vigil, world, dedup_key='news2:North-1:7plus', priority=Priority.HIGH)
    assert again.id == first.id
    assert (again.occurrences, again.last_triggered_at, again.version) == (2, clock(), first.version + 1)
    assert len(await vigil.alerts.list_alerts(world.a.actor('admin'))) == 1
    trail = await vigil.alerts.audit_trail(Actor.system(), first.id)
    assert [e.type for e in trail] == [AlertEventType.RAISED, AlertEventType.RETRIGGERED]
    assert trail[1].note == 'occurrence 2'
    await vigil.bus.drain()
    assert [e.type for e in received] == ['AlertRaised', 'AlertRetriggered']


async def test_retrigger_with_higher_priority_upgrades_the_alert(vigil: Vigil, world: World) -> None:
    first = await raise_for(vigil, world, dedup_key='k', priority=Priority.MEDIUM)
    again = await raise_for(vigil, world, dedup_key='k', priority=Priority.CRITICAL)
    assert again.id == first.id and again.priority is Priority.CRITICAL
    lower = await raise_for(vigil, world, dedup_key='k', priority=Priority.LOW)
    assert lower.priority is Priority.CRITICAL and lower.occurrences == 3


async def test_dedup_key_opens_a_new_alert_once_the_old_one_is_resolved(vigil: Vigil, world: World) -> None:
    first = await raise_for(vigil, world, dedup_key='k')
    await vigil.alerts.resolve(world.a.actor('nurse'), first.id)
    second = await raise_for(vigil, world, dedup_key='k')
    assert second.id != first.id and second.occurrences == 1


async def test_acknowledged_alert_with_same_key_is_retriggered_not_duplicated(vigil: Vigil, world: World) -> None:
    first = await raise_for(vigil, world, dedup_key='k')
    await vigil.alerts.acknowledge(world.a.actor('nurse'), first.id)
    again = await raise_for(vigil, world, dedup_key='k')
    assert again.id == first.id and again.status is AlertStatus.ACKNOWLEDGED and again.occurrences == 2


async def test_concurrent_raises_with_one_dedup_key_make_one_alert(vigil: Vigil, world: World) -> None:
    results = await asyncio.gather(*(raise_for(vigil, world, dedup_key='same') for _ in range(5)))
    assert len({r.id for r in results}) == 1
    final = await vigil.alerts.get(Actor.system(), results[0].id)
    assert final.occurrences == 5


async def test_dedup_keys_are_per_hospital(vigil: Vigil, world: World) -> None:
    a = await raise_for(vigil, world, dedup_key='shared')
    b = await vigil.alerts.raise_alert(world.b.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='x', patient_id=world.b.patient_ids['East-1'], dedup_key='shared'))
    assert a.id != b.id and b.occurrences == 1


# Who an alert is for: ('patient', bed) or ('ward', ward name) of hospital A.
Target = tuple[str, str]


def alert_for(world: World, target: Target, priority: Priority, message: str, dedup_key: str) -> NewAlert:
    kind, name = target
    if kind == 'patient':
        return NewAlert(priority=priority, message=message, patient_id=world.a.patient_ids[name], dedup_key=dedup_key)
    return NewAlert(priority=priority, message=message, ward_id=world.a.ward_ids[name], dedup_key=dedup_key)


def owner_of(world: World, target: Target) -> tuple[int | None, int]:
    """Return the (patient_id, ward_id) an alert for the target belongs to."""
    kind, name = target
    if kind == 'patient':
        return world.a.patient_ids[name], world.a.ward_ids[name.split('-')[0]]
    return None, world.a.ward_ids[name]


@pytest.mark.parametrize('first, second', [
    pytest.param(('patient', 'North-1'), ('patient', 'South-1'), id='two patients on two wards'),
    pytest.param(('patient', 'North-1'), ('patient', 'North-2'), id='two patients on one ward'),
    pytest.param(('ward', 'North'), ('ward', 'South'), id='two wards'),
    pytest.param(('patient', 'North-1'), ('ward', 'North'), id='a patient alert, then a ward alert of its ward'),
    pytest.param(('ward', 'North'), ('patient', 'North-1'), id='a ward alert, then a patient alert of that ward'),
])
async def test_one_dedup_key_for_another_patient_or_ward_raises_its_own_alert(
        vigil: Vigil, world: World, received: list[Event], clock: FakeClock, first: Target, second: Target) -> None:
    nurse = world.a.actor('nurse')
    one = await vigil.alerts.raise_alert(nurse, alert_for(world, first, Priority.MEDIUM, 'Pump occlusion', 'K'))
    clock.advance(minutes=1)

    two = await vigil.alerts.raise_alert(nurse, alert_for(world, second, Priority.CRITICAL, 'Cardiac arrest alarm',
                                                          'K'))

    assert two.id != one.id
    assert (two.patient_id, two.ward_id) == owner_of(world, second)
    assert (two.priority, two.occurrences, two.message, two.status) == (
        Priority.CRITICAL, 1, 'Cardiac arrest alarm', AlertStatus.ACTIVE)
    assert await vigil.alerts.get(Actor.system(), one.id) == one  # untouched: priority, occurrences, message, version
    assert await audit_types(vigil, one.id) == [AlertEventType.RAISED]
    assert await audit_types(vigil, two.id) == [AlertEventType.RAISED]
    assert len(await vigil.alerts.list_alerts(world.a.actor('admin'))) == 2
    await vigil.bus.drain()
    assert [(e.type, e.alert.id, e.ward_id) for e in received] == [  # type: ignore[union-attr]
        ('AlertRaised', one.id, owner_of(world, first)[1]), ('AlertRaised', two.id, owner_of(world, second)[1])]


@pytest.mark.parametrize('target', [pytest.param(('patient', 'South-1'), id='patient'),
                                    pytest.param(('ward', 'South'), id='ward')])
async def test_one_dedup_key_for_the_same_patient_or_ward_counts_an_occurrence(
        vigil: Vigil, world: World, received: list[Event], target: Target) -> None:
    nurse = world.a.actor('nurse')
    one = await vigil.alerts.raise_alert(nurse, alert_for(world, target, Priority.MEDIUM, 'Pump occlusion', 'K'))

    two = await vigil.alerts.raise_alert(nurse, alert_for(world, target, Priority.CRITICAL, 'Pump occlusion', 'K'))

    assert two.id == one.id
    assert (two.patient_id, two.ward_id) == owner_of(world, target)
    assert (two.priority, two.occurrences) == (Priority.CRITICAL, 2)
    assert len(await vigil.alerts.list_alerts(world.a.actor('admin'))) == 1
    await vigil.bus.drain()
    # Which event a priority rise publishes is the retrigger rule's business; here: one alert, told to its own ward.
    ward_id = owner_of(world, target)[1]
    assert [(e.alert.id, e.ward_id) for e in received] == [(one.id, ward_id)] * 2  # type: ignore[union-attr]
    assert [e.type for e in received].count('AlertRaised') == 1 and received[0].type == 'AlertRaised'


@pytest.mark.parametrize('targets, alerts', [
    pytest.param([('patient', 'North-1')] * 2, 1, id='same patient'),
    pytest.param([('ward', 'North')] * 2, 1, id='same ward'),
    pytest.param([('patient', 'North-1'), ('patient', 'South-1')], 2, id='two patients on two wards'),
    pytest.param([('patient', 'North-1'), ('patient', 'North-2')], 2, id='two patients on one ward'),
    pytest.param([('ward', 'North'), ('patient', 'North-1')], 2, id='a ward and a patient of that ward'),
])
async def test_concurrent_raises_with_one_dedup_key_make_one_alert_per_patient_or_ward(
        vigil: Vigil, world: World, targets: list[Target], alerts: int) -> None:
    nurse = world.a.actor('nurse')

    results = await asyncio.gather(*(vigil.alerts.raise_alert(
        nurse, alert_for(world, target, Priority.HIGH, 'Pump occlusion', 'K')) for target in targets))

    assert len({r.id for r in results}) == alerts
    for result, target in zip(results, targets, strict=True):
        assert (result.patient_id, result.ward_id) == owner_of(world, target)
    final = [await vigil.alerts.get(Actor.system(), alert_id) for alert_id in sorted({r.id for r in results})]
    assert sum(a.occurrences for a in final) == len(targets)
    assert len(await vigil.alerts.list_alerts(world.a.actor('admin'))) == alerts


async def test_escalation_follows_the_policy_and_happens_once(
        vigil: Vigil, world: World, received: list[Event], clock: FakeClock) -> None:
    critical = await raise_for(vigil, world, priority=Priority.CRITICAL, bed='North-1')
    low = await raise_for(vigil, world, priority=Priority.LOW, bed='North-2')
    assert low.next_escalation_at is None
    clock.advance(minutes=1, seconds=59)
    assert await vigil.alerts.escalate_due() == []
    clock.advance(seconds=1)
    [first] = await vigil.alerts.escalate_due()
    assert (first.id, first.escalation_level) == (critical.id, 1)
    assert first.next_escalation_at is not None and first.next_escalation_at == critical.created_at.replace(
        minute=critical.created_at.minute + 5)
    assert await vigil.alerts.escalate_due() == []  # nothing twice
    clock.advance(minutes=3)
    [second] = await vigil.alerts.escalate_due()
    assert second.escalation_level == 2 and second.next_escalation_at is None
    clock.advance(hours=5)
    assert await vigil.alerts.escalate_due() == []
    trail = await vigil.alerts.audit_trail(Actor.system(), critical.id)
    assert [(e.type, e.escalation_level, e.actor) for e in trail] == [
        (AlertEventType.RAISED, 0, 'Nurse (alpha-nurse)'), (AlertEventType.ESCALATED, 1, 'escalation'),
        (AlertEventType.ESCALATED, 2, 'escalation')]
    assert trail[1].note == 'not acknowledged within 2 min'
    await vigil.bus.drain()
    assert [e.type for e in received].count('AlertEscalated') == 2


async def test_acknowledged_and_resolved_alerts_never_escalate(vigil: Vigil, world: World, clock: FakeClock) -> None:
    acked = await raise_for(vigil, world, priority=Priority.CRITICAL, bed='North-1')
    resolved = await raise_for(vigil, world, priority=Priority.CRITICAL, bed='North-2')
    await vigil.alerts.acknowledge(world.a.actor('nurse'), acked.id)
    await vigil.alerts.resolve(world.a.actor('nurse'), resolved.id)
    clock.advance(hours=1)
    assert await vigil.alerts.escalate_due() == []


async def test_two_concurrent_escalators_claim_each_alert_once(vigil: Vigil, world: World, clock: FakeClock) -> None:
    alerts = [await raise_for(vigil, world, priority=Priority.CRITICAL, bed=bed) for bed in ('North-1', 'North-2')]
    clock.advance(minutes=2)
    first, second = await asyncio.gather(vigil.alerts.escalate_due(), vigil.alerts.escalate_due())
    assert sorted(a.id for a in first + second) == sorted(a.id for a in alerts)
    for alert in alerts:
        assert (await vigil.alerts.get(Actor.system(), alert.id)).escalation_level == 1


async def test_manual_escalation_of_an_acknowledged_alert(vigil: Vigil, world: World) -> None:
    alert = await raise_for(vigil, world)
    acked = await vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id)
    escalated = await vigil.alerts.escalate(world.a.actor('charge'), alert.id, note='needs the registrar')
    assert escalated.escalation_level == 1 and escalated.status is AlertStatus.ACKNOWLEDGED
    assert escalated.next_escalation_at is None and escalated.version == acked.version + 1


async def test_list_is_most_urgent_then_longest_waiting_first_and_filters(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    raised = {}
    for name, priority, bed in [('low', Priority.LOW, 'North-1'), ('crit-old', Priority.CRITICAL, 'North-2'),
                                ('high', Priority.HIGH, 'South-1'), ('crit-new', Priority.CRITICAL, 'South-2')]:
        clock.advance(seconds=10)
        raised[name] = await vigil.alerts.raise_alert(world.a.actor('admin'), NewAlert(
            priority=priority, message=name, patient_id=world.a.patient_ids[bed]))
    admin = world.a.actor('admin')
    # The needs-attention order: of two unacknowledged criticals, the one waiting longer comes first.
    assert [a.message for a in await vigil.alerts.list_alerts(admin)] == ['crit-old', 'crit-new', 'high', 'low']
    only_critical = AlertFilter(priorities=(Priority.CRITICAL,))
    assert [a.message for a in await vigil.alerts.list_alerts(admin, only_critical)] == ['crit-old', 'crit-new']
    south = AlertFilter(ward_id=world.a.ward_ids['South'])
    assert [a.message for a in await vigil.alerts.list_alerts(admin, south)] == ['crit-new', 'high']
    await vigil.alerts.resolve(admin, raised['high'].id)
    assert 'high' not in [a.message for a in await vigil.alerts.list_alerts(admin)]
    resolved = AlertFilter(statuses=(AlertStatus.RESOLVED,))
    assert [a.message for a in await vigil.alerts.list_alerts(admin, resolved)] == ['high']


async def test_kiosk_and_device_tokens_cannot_respond(vigil: Vigil, world: World) -> None:
    alert = await raise_for(vigil, world)
    for kind in (TokenKind.KIOSK, TokenKind.DEVICE):
        token = Actor(kind='token', hospital_id=world.a.hospital_id, name=f'token:{kind}', token_id=1,
                      token_kind=kind)
        with pytest.raises(NotAllowed, match=f'A {kind} token cannot'):
            await vigil.alerts.acknowledge(token, alert.id)
    kiosk = Actor(kind='token', hospital_id=world.a.hospital_id, name='token:wall', token_id=1,
                  token_kind=TokenKind.KIOSK)
    with pytest.raises(NotAllowed, match='read-only'):
        await vigil.alerts.raise_alert(kiosk, NewAlert(priority=Priority.LOW, message='x',
                                                       ward_id=world.a.ward_ids['North']))
    assert (await vigil.alerts.get(Actor.system(), alert.id)).status is AlertStatus.ACTIVE


async def test_integration_records_the_person_who_acted(vigil: Vigil, world: World) -> None:
    alert = await raise_for(vigil, world)
    integration = Actor(kind='token', hospital_id=world.a.hospital_id, name='token:pager', token_id=1,
                        token_kind=TokenKind.INTEGRATION)
    with pytest.raises(InvalidInput, match='name the person'):
        await vigil.alerts.acknowledge(integration, alert.id)
    acked = await vigil.alerts.acknowledge(integration, alert.id, on_behalf_of='Dr Jane Roe')
    assert acked.acknowledged_by == 'Dr Jane Roe (via token:pager)'
    assert (await vigil.alerts.audit_trail(Actor.system(), alert.id))[-1].actor == 'Dr Jane Roe (via token:pager)'


async def test_the_audit_trail_refuses_changes_at_the_database(vigil: Vigil, world: World) -> None:
    alert = await raise_for(vigil, world)
    async with vigil.db.uow() as uow:
        row = await uow.session.scalar(select(AlertEvent).where(AlertEvent.alert_id == alert.id))
        assert row is not None
        row.note = 'rewritten history'
        with pytest.raises(Exception, match='append-only'):
            await uow.session.flush()
    async with vigil.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(AlertEvent)) == 1
