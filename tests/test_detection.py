"""Detection on ingest: sequences of readings through PatientService.record_vitals, on SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.bootstrap import Vigil
from app.domain import AlertEventType, AlertKind, AlertStatus, Priority, VitalKind
from app.errors import AlertAlreadyResolved, InvalidInput, NotAllowed
from app.events import AlertCleared, AlertRaised, AlertSnoozed, Event, VitalsRecorded
from app.schemas import Actor, AlertFilter, AlertView, NewAlert, PendingScore, VitalReadingIn
from data.models import EventLogEntry, Patient, TriggerState

from .conftest import FakeClock, World

UNITS = {VitalKind.HEART_RATE: '/min', VitalKind.RESP_RATE: '/min', VitalKind.SPO2: '%',
         VitalKind.SYSTOLIC_BP: 'mm[Hg]', VitalKind.DIASTOLIC_BP: 'mm[Hg]', VitalKind.TEMPERATURE: 'Cel',
         VitalKind.CONSCIOUSNESS: '{ACVPU}', VitalKind.ON_OXYGEN: '{bool}'}
NORMAL = {'resp_rate': 16, 'spo2': 97, 'on_oxygen': 0, 'systolic_bp': 125, 'heart_rate': 72, 'consciousness': 0,
          'temperature': 36.8}
ALL = AlertFilter(statuses=(AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED))


def monitor(world: World) -> Actor:
    return Actor.system('bedside monitor', hospital_id=world.a.hospital_id)


def readings(clock: FakeClock, bed: str = 'North-1', ago: float = 0, **values: float) -> list[VitalReadingIn]:
    return [VitalReadingIn(patient_mrn=f'alpha-{bed}', kind=VitalKind(kind), value=value, unit=UNITS[VitalKind(kind)],
                           measured_at=clock() - timedelta(seconds=ago)) for kind, value in values.items()]


async def send(vigil: Vigil, world: World, clock: FakeClock, bed: str = 'North-1', **values: float) -> None:
    await vigil.patients.record_vitals(monitor(world), readings(clock, bed, **values))


async def alerts(vigil: Vigil, world: World, kind: AlertKind | None = None) -> list[AlertView]:
    found = await vigil.alerts.list_alerts(world.a.actor('admin'), ALL)
    return sorted((a for a in found if kind is None or a.kind is kind), key=lambda a: a.id)


async def trail(vigil: Vigil, alert_id: int) -> list[tuple[AlertEventType, str]]:
    return [(e.type, e.note or '') for e in await vigil.alerts.audit_trail(Actor.system(), alert_id)]


async def states(vigil: Vigil) -> set[str]:
    async with vigil.db.read() as session:
        return set(await session.scalars(select(TriggerState.trigger)))


# --- NEWS2 on every patient view ------------------------------------------------------------------------------------

async def test_every_patient_view_carries_news2(vigil: Vigil, world: World, clock: FakeClock,
                                                received: list[Event]) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'resp_rate': 22, 'heart_rate': 95})
    patient = await vigil.patients.get(world.a.actor('nurse'), world.a.patient_ids['North-1'])
    assert patient.news2 is not None
    assert (patient.news2.total, patient.news2.risk, patient.news2.missing) == (3, 'low', ())
    assert patient.news2.sub_scores[VitalKind.RESP_RATE] == 2
    listed = {p.bed: p for p in await vigil.patients.list_patients(world.a.actor('nurse'))}
    assert listed['North-1'].news2 == patient.news2
    assert listed['North-2'].news2 is not None and listed['North-2'].news2.missing == tuple(
        VitalKind(k) for k in NORMAL)  # no readings yet: everything missing, nothing scored
    await vigil.bus.drain()
    [event] = [e for e in received if isinstance(e, VitalsRecorded)]
    assert event.patient.news2 == patient.news2
    assert await alerts(vigil, world) == []


@pytest.mark.parametrize('scale', [1, 2])
async def test_the_news2_of_every_vitals_event_is_the_patients_news2_once_stored(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event], scale: int) -> None:
    # Batches whose last reading detection scores, and batches where it does not (a value moved within its band, a
    # parameter outside NEWS2, a late reading): either way the event shows what a fresh read of the patient shows.
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(Patient).where(Patient.id == world.a.patient_ids['North-1'])
                                  .values(spo2_scale=scale))
        await uow.commit()
    batches = [
        lambda: readings(clock, **NORMAL),
        lambda: readings(clock, spo2=84, on_oxygen=1),  # SpO2 waits for its persistence delay: pending
        lambda: [*readings(clock, ago=2, heart_rate=95), *readings(clock, heart_rate=96)],  # within its band
        lambda: [*readings(clock, ago=1, spo2=83), *readings(clock, diastolic_bp=70)],  # ends outside NEWS2
        lambda: [*readings(clock, spo2=97, on_oxygen=0), *readings(clock, ago=600, resp_rate=30)],  # a late one last
        lambda: readings(clock, resp_rate=26, temperature=39.5, consciousness=2),
    ]
    for step, batch in enumerate(batches):
        clock.advance(seconds=8)
        await vigil.patients.record_vitals(monitor(world), batch())
        await vigil.bus.drain()
        events = [e for e in received if isinstance(e, VitalsRecorded)]
        assert len(events) == step + 1
        patient = await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids['North-1'])
        assert events[-1].patient.news2 == patient.news2, step
        assert events[-1].patient.latest == patient.latest


async def test_missing_parameters_never_score(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, resp_rate=21, heart_rate=111)  # 2 + 2, five parameters unknown
    [patient] = [p for p in await vigil.patients.list_patients(world.a.actor('admin')) if p.bed == 'North-1']
    assert patient.news2 is not None and (patient.news2.total, patient.news2.risk) == (4, 'low')
    assert len(patient.news2.missing) == 5
    assert await alerts(vigil, world) == []


# --- NEWS2 triggers -------------------------------------------------------------------------------------------------

async def test_news2_levels_raise_one_alert_per_patient_and_escalate_its_priority(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'consciousness': 1})  # new confusion alone: a single 3
    [single] = await alerts(vigil, world, AlertKind.NEWS2)
    assert (single.priority, single.dedup_key, single.created_by) == (
        Priority.MEDIUM, f'news2:{world.a.patient_ids["North-1"]}', 'detection')
    assert single.message.startswith('NEWS2 3 (low-medium risk, urgent ward-based response): consciousness C')
    clock.advance(seconds=30)
    await send(vigil, world, clock, heart_rate=111)  # 3 + 2 = 5
    [urgent] = await alerts(vigil, world, AlertKind.NEWS2)
    assert (urgent.id, urgent.priority, urgent.occurrences) == (single.id, Priority.HIGH, 2)
    assert urgent.next_escalation_at == single.created_at + timedelta(minutes=5)
    clock.advance(seconds=30)
    await send(vigil, world, clock, resp_rate=22)  # 3 + 2 + 2 = 7
    [emergency] = await alerts(vigil, world, AlertKind.NEWS2)
    assert (emergency.id, emergency.priority, emergency.occurrences) == (single.id, Priority.CRITICAL, 3)
    assert emergency.message.startswith('NEWS2 7 (high risk, emergency response)')
    clock.advance(seconds=30)
    await send(vigil, world, clock, resp_rate=16)  # back to 5: the alert keeps its priority, nothing new
    await send(vigil, world, clock, heart_rate=112)  # still 5
    assert (await alerts(vigil, world, AlertKind.NEWS2))[0].occurrences == 3
    clock.advance(seconds=30)
    await send(vigil, world, clock, resp_rate=25)  # 7 again: another occurrence
    [again] = await alerts(vigil, world, AlertKind.NEWS2)
    assert (again.occurrences, again.priority, again.cleared_at) == (4, Priority.CRITICAL, None)
    clock.advance(seconds=30)
    await send(vigil, world, clock, **NORMAL)
    [recovered] = await alerts(vigil, world, AlertKind.NEWS2)
    assert recovered.status is AlertStatus.ACTIVE and recovered.cleared_at == clock()
    notes = await trail(vigil, single.id)
    # Each rise re-alarms (reactivated); the fall to 5 rewrites the headline without a re-alarm; 7 again at the
    # same priority is one more occurrence.
    assert [t for t, _ in notes] == [AlertEventType.RAISED] + [AlertEventType.REACTIVATED] * 2 + [
        AlertEventType.UPDATED, AlertEventType.RETRIGGERED, AlertEventType.CLEARED]
    assert notes[1][1] == 'NEWS2 3 → 5: priority medium → high'
    assert notes[2][1] == 'NEWS2 5 → 7: priority high → critical'
    assert notes[3][1].startswith('NEWS2 7 → 5: NEWS2 5 (medium risk, urgent response)')
    assert notes[3][1].endswith('the alert stays critical (the patient was worse earlier) until a person resolves it')
    await vigil.bus.drain()
    types = [e.type for e in received]
    # The readings come first in the event log, then what they caused.
    assert types[:2] == ['VitalsRecorded', 'AlertRaised']


async def test_an_aggregate_of_five_without_a_single_three_is_high(vigil: Vigil, world: World,
                                                                   clock: FakeClock) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'resp_rate': 21, 'heart_rate': 111, 'temperature': 38.5})
    [alert] = await alerts(vigil, world)
    assert (alert.kind, alert.priority) == (AlertKind.NEWS2, Priority.HIGH)
    assert 'NEWS2 5 (medium risk, urgent response)' in alert.message


async def test_an_aggregate_of_seven_at_once_is_critical(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'resp_rate': 21, 'heart_rate': 111, 'temperature': 38.5,
                                       'on_oxygen': 1})
    [alert] = await alerts(vigil, world)
    assert (alert.kind, alert.priority, alert.occurrences) == (AlertKind.NEWS2, Priority.CRITICAL, 1)


async def test_each_patient_has_its_own_news2_alert(vigil: Vigil, world: World, clock: FakeClock) -> None:
    for bed in ('North-1', 'North-2'):
        await send(vigil, world, clock, bed=bed, consciousness=2)
    found = await alerts(vigil, world, AlertKind.NEWS2)
    assert sorted(a.bed or '' for a in found) == ['North-1', 'North-2']


# --- critical limits and the persistence delay ----------------------------------------------------------------------

async def test_a_heart_rate_beyond_its_limit_alerts_at_once(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, heart_rate=131)
    [value] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert (value.priority, value.dedup_key) == (
        Priority.HIGH, f'limit:heart_rate:high:{world.a.patient_ids["North-1"]}')
    assert value.message == 'Critical value: heart rate 131 /min, at or above the limit of 131 /min'
    [news2] = await alerts(vigil, world, AlertKind.NEWS2)  # the same 3 points also count for NEWS2
    assert news2.priority is Priority.MEDIUM


async def test_low_and_high_breaches_are_separate_triggers(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, systolic_bp=85)
    clock.advance(seconds=60)
    await send(vigil, world, clock, systolic_bp=225)
    found = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert [a.dedup_key.split(':')[2] for a in found if a.dedup_key] == ['low', 'high']
    assert found[0].cleared_at == clock() and found[1].cleared_at is None


async def test_a_short_spo2_artefact_is_swallowed(vigil: Vigil, world: World, clock: FakeClock,
                                                  received: list[Event]) -> None:
    for value in (85, 84, 86):  # 0 s, 2.5 s, 5 s
        await send(vigil, world, clock, spo2=value)
        clock.advance(seconds=2.5)
    assert await alerts(vigil, world) == []
    assert 'limit:spo2:low' in await states(vigil)
    await send(vigil, world, clock, spo2=97)
    assert await alerts(vigil, world) == []
    assert await states(vigil) == set()  # the recovering reading reset the delay
    patient = await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids['North-1'])
    assert patient.news2 is not None and patient.news2.sub_scores[VitalKind.SPO2] == 0
    await vigil.bus.drain()
    assert {e.type for e in received} == {'VitalsRecorded'}


async def test_a_desaturation_alerts_once_it_lasted_15_seconds(vigil: Vigil, world: World, clock: FakeClock) -> None:
    start = clock()
    for left in (15, 10, 5):  # at 0, 5, 10 s
        await send(vigil, world, clock, spo2=88)
        # The display shows the value at once, as pending: scored as the alert scores it, never another way.
        patient = await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids['North-1'])
        assert patient.news2 is not None and patient.news2.sub_scores[VitalKind.SPO2] == 0
        assert patient.news2.pending[VitalKind.SPO2] == PendingScore(points=3, counted=0, seconds_left=left)
        assert f'SpO2 88 %, confirming for {left} s (counts 0, 3 once confirmed)' in patient.news2.explanation
        assert await alerts(vigil, world) == []
        clock.advance(seconds=5)
    await send(vigil, world, clock, spo2=88)  # 15 s
    patient = await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids['North-1'])
    assert patient.news2 is not None and patient.news2.sub_scores[VitalKind.SPO2] == 3
    assert patient.news2.pending == {}
    value, news2 = await alerts(vigil, world)
    assert news2.message == patient.news2.explanation  # one truth: the card's explanation is the headline
    assert (value.kind, value.priority, value.created_at) == (AlertKind.CRITICAL_VALUE, Priority.HIGH,
                                                             start + timedelta(seconds=15))
    assert value.message == 'Critical value: SpO2 88 %, at or below the limit of 91 %'
    assert (news2.kind, news2.priority) == (AlertKind.NEWS2, Priority.MEDIUM)  # SpO2 3 counted once it persisted
    clock.advance(seconds=5)
    await send(vigil, world, clock, spo2=87)
    assert [a.occurrences for a in await alerts(vigil, world)] == [1, 1]  # the episode goes on: nothing new


async def test_the_delay_also_works_inside_one_batch(vigil: Vigil, world: World, clock: FakeClock) -> None:
    clock.advance(seconds=20)
    batch = [r for ago in (20, 15, 10, 5, 0) for r in readings(clock, ago=ago, spo2=89)]
    await vigil.patients.record_vitals(monitor(world), batch)
    assert {a.kind for a in await alerts(vigil, world)} == {AlertKind.CRITICAL_VALUE, AlertKind.NEWS2}


async def test_a_persistence_in_consecutive_readings(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.set_limit(world.a.actor('admin'), 'resp_rate', low=8, high=25, persistence_seconds=0,
                                persistence_readings=3)
    for value in (26, 27, 18, 26, 28):  # the normal reading in between starts the count again
        await send(vigil, world, clock, resp_rate=value)
        clock.advance(seconds=30)
        assert await alerts(vigil, world, AlertKind.CRITICAL_VALUE) == []
    await send(vigil, world, clock, resp_rate=29)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert alert.message.startswith('Critical value: respiratory rate 29 /min')


async def test_scale_2_patients_have_their_own_spo2_limit(vigil: Vigil, world: World, clock: FakeClock) -> None:
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(Patient).where(Patient.id == world.a.patient_ids['North-1'])
                                  .values(spo2_scale=2))
        await uow.commit()
    for _ in range(4):
        await send(vigil, world, clock, spo2=86, on_oxygen=0)
        clock.advance(seconds=5)
    assert await alerts(vigil, world) == []  # 86 % is close to a scale-2 target: 1 point, no critical value
    for _ in range(4):
        await send(vigil, world, clock, spo2=83)
        clock.advance(seconds=5)
    [value] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert value.dedup_key == f'limit:spo2_scale2:low:{world.a.patient_ids["North-1"]}'


async def test_a_late_reading_is_stored_but_does_not_alert(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, heart_rate=80)
    await vigil.patients.record_vitals(monitor(world), readings(clock, ago=60, heart_rate=135))
    assert await alerts(vigil, world) == []


async def test_changed_limits_apply_to_the_next_reading(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, heart_rate=135)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    await vigil.rules.set_limit(world.a.actor('admin'), 'heart_rate', low=40, high=140, persistence_seconds=0)
    clock.advance(seconds=5)
    await send(vigil, world, clock, heart_rate=135)  # within the new limit: the episode has ended
    [after] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert after.id == alert.id and after.cleared_at == clock()


# --- latching -------------------------------------------------------------------------------------------------------

async def test_a_latched_alert_stays_and_shows_that_it_recovered(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    await send(vigil, world, clock, heart_rate=35)
    [raised] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    clock.advance(seconds=10)
    await send(vigil, world, clock, heart_rate=60)
    [cleared] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert (cleared.status, cleared.cleared_at, cleared.version) == (AlertStatus.ACTIVE, clock(), raised.version + 1)
    clock.advance(seconds=10)
    await send(vigil, world, clock, heart_rate=62)  # still normal: cleared once, not again
    clock.advance(seconds=10)
    await send(vigil, world, clock, heart_rate=38)  # a new breach: one more occurrence of the same alert
    [again] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert (again.id, again.occurrences, again.cleared_at) == (raised.id, 2, None)
    assert [t for t, _ in await trail(vigil, raised.id)] == [
        AlertEventType.RAISED, AlertEventType.CLEARED, AlertEventType.RETRIGGERED]
    await vigil.bus.drain()
    assert [e.type for e in received if not isinstance(e, VitalsRecorded) and e.alert.id == raised.id] == [
        'AlertRaised', 'AlertCleared', 'AlertRetriggered']
    cleared_events = [e for e in received if isinstance(e, AlertCleared)]
    assert [e.alert.cleared_at for e in cleared_events if e.alert.kind is AlertKind.CRITICAL_VALUE] == [
        raised.created_at + timedelta(seconds=10)]


async def test_a_hospital_that_does_not_latch_has_the_system_resolve(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.update_settings(world.a.actor('admin'), alarms_latch=False)
    await send(vigil, world, clock, heart_rate=35)
    clock.advance(seconds=10)
    await send(vigil, world, clock, heart_rate=60)
    [first] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert (first.status, first.resolved_by, first.resolved_at) == (AlertStatus.RESOLVED, 'detection', clock())
    assert await trail(vigil, first.id) == [
        (AlertEventType.RAISED, first.message),
        (AlertEventType.RESOLVED, 'condition recovered; resolved by the system because this hospital does not '
                                  'latch alarms')]
    clock.advance(seconds=10)
    await send(vigil, world, clock, heart_rate=36)
    found = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert [(a.status, a.occurrences) for a in found] == [(AlertStatus.RESOLVED, 1), (AlertStatus.ACTIVE, 1)]


async def test_a_condition_still_present_after_a_person_resolved_alerts_again(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, heart_rate=140)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    await vigil.alerts.resolve(world.a.actor('nurse'), alert.id)
    clock.advance(seconds=5)
    await send(vigil, world, clock, heart_rate=141)
    found = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert [a.status for a in found] == [AlertStatus.RESOLVED, AlertStatus.ACTIVE]


# --- snooze ---------------------------------------------------------------------------------------------------------

async def test_a_snooze_stops_re_alerting_but_not_the_visual_state(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    await send(vigil, world, clock, heart_rate=135)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    snoozed = await vigil.alerts.snooze(world.a.actor('charge'), alert.id, 30, 'known tachycardia, cardiology aware')
    assert snoozed.snoozed_until == clock() + timedelta(minutes=30) and snoozed.status is AlertStatus.ACTIVE
    assert (await trail(vigil, alert.id))[-1] == (
        AlertEventType.SNOOZED, 'snoozed for 30 min, until 08:30 UTC: known tachycardia, cardiology aware')
    clock.advance(minutes=1)
    await send(vigil, world, clock, heart_rate=80)
    assert (await alerts(vigil, world, AlertKind.CRITICAL_VALUE))[0].cleared_at == clock()  # recovery still shows
    clock.advance(minutes=1)
    await send(vigil, world, clock, heart_rate=136)
    [during] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert (during.cleared_at, during.occurrences) == (None, 2)  # the condition is shown as present again ...
    assert (await trail(vigil, alert.id))[-1][1].endswith('snoozed until 08:30 UTC, not re-alerted')  # ... quietly
    # Resolved during the snooze, the still-present condition opens nothing new until the snooze ends.
    await vigil.alerts.resolve(world.a.actor('charge'), alert.id)
    clock.advance(minutes=1)
    await send(vigil, world, clock, heart_rate=137)
    assert [a.id for a in await alerts(vigil, world, AlertKind.CRITICAL_VALUE)] == [alert.id]
    clock.advance(minutes=28)
    await send(vigil, world, clock, heart_rate=138)
    found = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert len(found) == 2 and found[1].status is AlertStatus.ACTIVE and found[1].snoozed_until is None
    await vigil.bus.drain()
    [event] = [e for e in received if isinstance(e, AlertSnoozed)]
    assert event.alert.snoozed_until == snoozed.snoozed_until and event.actor == 'Charge (alpha-charge)'


async def test_a_worse_news2_level_breaks_through_a_snooze(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, **{**NORMAL, 'resp_rate': 21, 'heart_rate': 111, 'temperature': 38.5})  # 5
    [alert] = await alerts(vigil, world, AlertKind.NEWS2)
    await vigil.alerts.snooze(world.a.actor('doctor'), alert.id, 60, 'reviewed, antibiotics started')
    clock.advance(minutes=5)
    await send(vigil, world, clock, on_oxygen=1)  # 7
    [worse] = await alerts(vigil, world, AlertKind.NEWS2)
    assert (worse.priority, worse.snoozed_until, worse.occurrences) == (Priority.CRITICAL, None, 2)
    assert (await trail(vigil, alert.id))[-1] == (
        AlertEventType.REACTIVATED, 'NEWS2 5 → 7: priority high → critical; snooze until 09:00 UTC ended')


@pytest.mark.parametrize('who', ['nurse', 'device'])
async def test_only_charge_nurses_physicians_and_admins_snooze(vigil: Vigil, world: World, clock: FakeClock,
                                                                who: str) -> None:
    await send(vigil, world, clock, heart_rate=135)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    actor = monitor(world) if who == 'device' else world.a.actor(who)
    with pytest.raises(NotAllowed, match='Only a charge nurse, a physician or an administrator'):
        await vigil.alerts.snooze(actor, alert.id, 30, 'reason')
    assert (await vigil.alerts.get(Actor.system(), alert.id)) == alert


@pytest.mark.parametrize('minutes, reason, message', [
    (4, 'ok', 'lasts 5-240 whole minutes'), (241, 'ok', '5-240'), (True, 'ok', '5-240'), (10, '  ', 'needs a reason'),
])
async def test_bad_snoozes_are_refused_and_change_nothing(vigil: Vigil, world: World, clock: FakeClock,
                                                          minutes: int, reason: str, message: str) -> None:
    await send(vigil, world, clock, heart_rate=135)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    with pytest.raises(InvalidInput, match=message):
        await vigil.alerts.snooze(world.a.actor('charge'), alert.id, minutes, reason)
    assert (await vigil.alerts.get(Actor.system(), alert.id)) == alert


async def test_resolved_and_manual_alerts_cannot_be_snoozed(vigil: Vigil, world: World, clock: FakeClock) -> None:
    manual = await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='Fall', patient_id=world.a.patient_ids['North-1'], dedup_key='fall'))
    with pytest.raises(InvalidInput, match='only those can be snoozed'):
        await vigil.alerts.snooze(world.a.actor('charge'), manual.id, 30, 'x')
    await send(vigil, world, clock, heart_rate=135)
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    await vigil.alerts.resolve(world.a.actor('nurse'), alert.id)
    with pytest.raises(AlertAlreadyResolved, match='cannot be snoozed'):
        await vigil.alerts.snooze(world.a.actor('charge'), alert.id, 30, 'x')


# --- one transaction ------------------------------------------------------------------------------------------------

async def test_readings_and_the_alerts_they_cause_commit_together(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    await send(vigil, world, clock, heart_rate=135)
    async with vigil.db.read() as session:
        logged = list(await session.scalars(select(EventLogEntry.type).order_by(EventLogEntry.seq)))
    assert logged == ['VitalsRecorded', 'AlertRaised', 'AlertRaised']  # critical value, NEWS2
    await vigil.bus.drain()
    assert [e.seq for e in received] == [1, 2, 3]
    assert all(isinstance(e, AlertRaised) for e in received[1:])


async def test_a_refused_batch_leaves_no_alert_and_no_state(vigil: Vigil, world: World, clock: FakeClock) -> None:
    batch = readings(clock, heart_rate=135) + readings(clock, bed='Nowhere', heart_rate=80)
    with pytest.raises(Exception, match='no patient with MRN'):
        await vigil.patients.record_vitals(monitor(world), batch)
    assert await alerts(vigil, world) == []
    assert await states(vigil) == set()
    async with vigil.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EventLogEntry)) == 0


async def test_other_hospitals_alerts_stay_there(vigil: Vigil, world: World, clock: FakeClock) -> None:
    beta = Actor.system('monitor', hospital_id=world.b.hospital_id)
    await vigil.patients.record_vitals(beta, [VitalReadingIn(
        patient_mrn='beta-East-1', kind=VitalKind.HEART_RATE, value=150, unit='/min', measured_at=clock())])
    assert await alerts(vigil, world) == []
    found = await vigil.alerts.list_alerts(world.b.actor('admin'))
    assert {a.ward_name for a in found} == {'East'} and len(found) == 2


async def test_concurrent_batches_for_one_patient_make_one_alert(vigil: Vigil, world: World,
                                                                 clock: FakeClock) -> None:
    batches = [readings(clock, ago=ago, heart_rate=135 + ago) for ago in range(5)]
    await asyncio.gather(*(vigil.patients.record_vitals(monitor(world), batch) for batch in batches))
    [alert] = await alerts(vigil, world, AlertKind.CRITICAL_VALUE)
    assert alert.occurrences == 1
    assert len(await alerts(vigil, world, AlertKind.NEWS2)) == 1
