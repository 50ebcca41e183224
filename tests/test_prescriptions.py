"""SpO2 scale 2 as a prescription: who may set it, what is recorded, and what follows at once; SQLite and PostgreSQL."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, TokenKind, VitalKind
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.events import Event, PatientUpdated
from app.schemas import Actor, AlertFilter, AlertView, VitalReadingIn
from data.models import EventLogEntry, Patient, PatientEvent

from .conftest import FakeClock, World

REASON = 'confirmed hypercapnic respiratory failure (ABG 07:40)'
ALL = AlertFilter(statuses=(AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED))


def token(world: World, kind: TokenKind, name: str = 'epic') -> Actor:
    return Actor(kind='token', hospital_id=world.a.hospital_id, name=f'token:{name}', token_id=7, token_kind=kind)


def north_1(world: World) -> int:
    return world.a.patient_ids['North-1']


async def unchanged(vigil: Vigil, world: World, received: list[Event]) -> None:
    """Nothing was recorded: the patient is on scale 1 as admitted, no trail line, no event."""
    patient = await vigil.patients.get(world.a.actor('admin'), north_1(world))
    assert (patient.spo2_scale, patient.spo2_scale_set_at, patient.spo2_scale_set_by,
            patient.spo2_scale_reason) == (1, None, None, None)
    async with vigil.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(PatientEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(EventLogEntry)) == 0
    await vigil.bus.drain()
    assert received == []


# --- who prescribes, and what is recorded ---------------------------------------------------------------------------

async def test_a_physician_prescribes_scale_2_and_it_is_on_the_record(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    view = await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, f'  {REASON} ')

    assert (view.spo2_scale, view.spo2_scale_set_at, view.spo2_scale_set_by, view.spo2_scale_reason) == (
        2, clock(), 'Doctor (alpha-doctor)', REASON)
    assert await vigil.patients.get(world.a.actor('nurse'), north_1(world)) == view
    [entry] = await vigil.prescriptions.spo2_scale_history(world.a.actor('nurse'), north_1(world))
    assert (entry.type, entry.at, entry.actor, entry.actor_user_id, entry.note) == (
        'spo2_scale', clock(), 'Doctor (alpha-doctor)', world.a.users['doctor'].id,
        f'SpO2 scale 2 prescribed (target 88-92 %): {REASON}')
    await vigil.bus.drain()
    [event] = received
    assert isinstance(event, PatientUpdated)
    assert (event.hospital_id, event.ward_id, event.actor, event.patient, event.change) == (
        world.a.hospital_id, world.a.ward_ids['North'], 'Doctor (alpha-doctor)', view, entry.note)
    assert event.seq == 1  # numbered and in the durable event log like every event


async def test_an_admin_restores_scale_1_and_the_history_is_newest_first(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)
    clock.advance(hours=30)

    view = await vigil.prescriptions.set_spo2_scale(world.a.actor('admin'), north_1(world), 1, 'ABG normal on air')

    assert (view.spo2_scale, view.spo2_scale_set_at, view.spo2_scale_set_by, view.spo2_scale_reason) == (
        1, clock(), 'Admin (alpha-admin)', 'ABG normal on air')
    history = await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), north_1(world))
    assert [(e.actor, e.note) for e in history] == [
        ('Admin (alpha-admin)', 'SpO2 scale 1 restored: ABG normal on air'),
        ('Doctor (alpha-doctor)', f'SpO2 scale 2 prescribed (target 88-92 %): {REASON}')]
    assert history[0].at - history[1].at == timedelta(hours=30)


@pytest.mark.parametrize('who', ['nurse', 'charge', 'device', 'kiosk'])
async def test_nurses_devices_and_kiosks_may_not_prescribe(
        vigil: Vigil, world: World, received: list[Event], who: str) -> None:
    actor = token(world, TokenKind(who)) if who in ('device', 'kiosk') else world.a.actor(who)

    with pytest.raises(NotAllowed, match='Only a physician or an administrator'):
        await vigil.prescriptions.set_spo2_scale(actor, north_1(world), 2, REASON, on_behalf_of='Dr Grey')

    await unchanged(vigil, world, received)


@pytest.mark.parametrize('scale', [0, 3, -1, '2', True, None, 2.0])
async def test_a_scale_other_than_1_or_2_is_refused(
        vigil: Vigil, world: World, received: list[Event], scale: Any) -> None:
    with pytest.raises(InvalidInput, match='The SpO2 scale is 1 or 2, not'):
        await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), scale, REASON)

    await unchanged(vigil, world, received)


@pytest.mark.parametrize('reason', ['', '   \n', 'x' * 501, None])
async def test_a_missing_or_too_long_reason_is_refused(
        vigil: Vigil, world: World, received: list[Event], reason: Any) -> None:
    with pytest.raises(InvalidInput, match='Say why the SpO2 scale changes'):
        await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, reason)

    await unchanged(vigil, world, received)


async def test_a_reason_of_500_characters_is_enough(vigil: Vigil, world: World) -> None:
    view = await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, 'x' * 500)
    assert view.spo2_scale_reason == 'x' * 500


async def test_the_scale_the_patient_has_already_is_refused(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    with pytest.raises(InvalidInput, match='Patient North-1 is on SpO2 scale 1 already; nothing was changed'):
        await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 1, REASON)
    await unchanged(vigil, world, received)

    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)
    with pytest.raises(InvalidInput, match='on SpO2 scale 2 already'):
        await vigil.prescriptions.set_spo2_scale(world.a.actor('admin'), north_1(world), 2, 'again')
    history = await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), north_1(world))
    assert len(history) == 1


@pytest.mark.parametrize('actor_of', [
    pytest.param(lambda w: token(w, TokenKind.INTEGRATION), id='integration'),
    pytest.param(lambda w: Actor.system('cli', hospital_id=w.a.hospital_id), id='command line'),
])
async def test_an_integration_or_the_command_line_prescribes_on_behalf_of_a_named_clinician(
        vigil: Vigil, world: World, received: list[Event], actor_of: Any) -> None:
    actor = actor_of(world)
    for nobody in (None, '  '):
        with pytest.raises(InvalidInput, match=r'person who acted|clinician who prescribed'):
            await vigil.prescriptions.set_spo2_scale(actor, north_1(world), 2, REASON, on_behalf_of=nobody)
    await unchanged(vigil, world, received)

    view = await vigil.prescriptions.set_spo2_scale(actor, north_1(world), 2, REASON, on_behalf_of=' Dr Grey ')

    assert view.spo2_scale_set_by == f'Dr Grey (via {actor.name})'
    [entry] = await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), north_1(world))
    assert (entry.actor, entry.actor_user_id) == (f'Dr Grey (via {actor.name})', None)


async def test_another_hospitals_patient_is_not_found(vigil: Vigil, world: World, received: list[Event]) -> None:
    foreign = world.b.patient_ids['East-1']
    for missing in (foreign, 999_999):
        with pytest.raises(PatientNotFound):
            await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), missing, 2, REASON)
        with pytest.raises(PatientNotFound):
            await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), missing)
    async with vigil.db.read() as session:
        assert await session.scalar(select(Patient.spo2_scale).where(Patient.id == foreign)) == 1
    await vigil.bus.drain()
    assert received == []


async def test_nurses_read_the_history_of_their_wards_only(vigil: Vigil, world: World) -> None:
    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)

    assert len(await vigil.prescriptions.spo2_scale_history(world.a.actor('nurse'), north_1(world))) == 1
    with pytest.raises(NotAllowed, match='not on one of your wards'):
        await vigil.prescriptions.spo2_scale_history(world.a.actor('nurse2'), north_1(world))


async def test_the_patient_trail_refuses_update_and_delete(vigil: Vigil, world: World) -> None:
    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)
    statements = ["UPDATE patient_events SET note = 'rewritten'", "UPDATE patient_events SET actor = 'someone else'",
                  'DELETE FROM patient_events']
    if vigil.engine.dialect.name == 'postgresql':
        statements.append('TRUNCATE patient_events')
    before = await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), north_1(world))

    for statement in statements:
        with pytest.raises(DBAPIError, match='append-only'):
            async with vigil.engine.begin() as connection:
                await connection.execute(text(statement))

    assert await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), north_1(world)) == before


# --- NEWS2 and the SpO2 limit follow the scale at once --------------------------------------------------------------

NORMAL = {VitalKind.RESP_RATE: 16, VitalKind.ON_OXYGEN: 0, VitalKind.SYSTOLIC_BP: 125, VitalKind.HEART_RATE: 72,
          VitalKind.CONSCIOUSNESS: 0, VitalKind.TEMPERATURE: 36.8}
UNITS = {VitalKind.RESP_RATE: '/min', VitalKind.ON_OXYGEN: '{bool}', VitalKind.SYSTOLIC_BP: 'mm[Hg]',
         VitalKind.HEART_RATE: '/min', VitalKind.CONSCIOUSNESS: '{ACVPU}', VitalKind.TEMPERATURE: 'Cel',
         VitalKind.SPO2: '%'}


async def send(vigil: Vigil, world: World, clock: FakeClock, values: dict[VitalKind, float]) -> None:
    monitor = Actor.system('bedside monitor', hospital_id=world.a.hospital_id)
    await vigil.patients.record_vitals(monitor, [
        VitalReadingIn(patient_mrn='alpha-North-1', kind=kind, value=value, unit=UNITS[kind], measured_at=clock())
        for kind, value in values.items()])


async def alerts(vigil: Vigil, world: World) -> dict[AlertKind, AlertView]:
    return {a.kind: a for a in await vigil.alerts.list_alerts(world.a.actor('admin'), ALL)}


async def desaturated_on_scale_1(vigil: Vigil, world: World, clock: FakeClock) -> dict[AlertKind, AlertView]:
    """SpO2 86 % on air for 15 s on scale 1: 3 points (a single 3) and below the critical limit of 91 %."""
    for _ in range(4):  # 0, 5, 10, 15 s: past the SpO2 persistence delay
        await send(vigil, world, clock, {**NORMAL, VitalKind.SPO2: 86})
        clock.advance(seconds=5)
    found = await alerts(vigil, world)
    assert set(found) == {AlertKind.CRITICAL_VALUE, AlertKind.NEWS2}
    assert found[AlertKind.CRITICAL_VALUE].message == 'Critical value: SpO2 86 %, at or below the limit of 91 %'
    assert found[AlertKind.NEWS2].message.startswith('NEWS2 3 (low-medium risk')
    return found


async def test_prescribing_scale_2_rescores_news2_and_the_spo2_alerts_recover_at_once(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    raised = await desaturated_on_scale_1(vigil, world, clock)
    await vigil.bus.drain()
    received.clear()

    view = await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)

    # 86 % on air is 1 point on scale 2 (86-87 %), and above the scale-2 critical limit of 83 %.
    assert view.news2 is not None and (view.news2.total, view.news2.risk) == (1, 'low')
    assert view.news2.sub_scores[VitalKind.SPO2] == 1
    after = await alerts(vigil, world)
    for kind in (AlertKind.CRITICAL_VALUE, AlertKind.NEWS2):  # latched: still open, marked recovered
        assert (after[kind].id, after[kind].status, after[kind].cleared_at) == (
            raised[kind].id, AlertStatus.ACTIVE, clock())
    await vigil.bus.drain()
    assert [e.type for e in received] == ['PatientUpdated', 'AlertCleared', 'AlertCleared']
    # The next reading raises nothing new: 86 % is near this patient's target.
    clock.advance(seconds=5)
    await send(vigil, world, clock, {VitalKind.SPO2: 86})
    assert {k: (a.id, a.occurrences) for k, a in (await alerts(vigil, world)).items()} == {
        k: (a.id, 1) for k, a in raised.items()}


async def test_restoring_scale_1_alerts_again_once_the_desaturation_persists(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    raised = await desaturated_on_scale_1(vigil, world, clock)
    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)
    clock.advance(minutes=5)

    view = await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 1, 'prescribed in error')

    # The display follows at once: 86 % scores 3 again, shown as pending until it has lasted the SpO2 delay (the
    # latest reading alone is not yet a persisting desaturation), so alerting waits as for any desaturation.
    assert view.news2 is not None and view.news2.pending[VitalKind.SPO2].points == 3
    assert all(a.cleared_at is not None for a in (await alerts(vigil, world)).values())
    await send(vigil, world, clock, {VitalKind.SPO2: 86})  # 86 % then and now: the breach has lasted 5 minutes
    again = await alerts(vigil, world)
    for kind in (AlertKind.CRITICAL_VALUE, AlertKind.NEWS2):
        assert (again[kind].id, again[kind].occurrences, again[kind].cleared_at) == (raised[kind].id, 2, None)


async def test_a_patient_without_an_spo2_reading_changes_scale_without_detection(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await send(vigil, world, clock, {VitalKind.HEART_RATE: 131})  # a critical value that the scale does not touch
    before = await alerts(vigil, world)
    assert set(before) == {AlertKind.CRITICAL_VALUE, AlertKind.NEWS2}

    await vigil.prescriptions.set_spo2_scale(world.a.actor('doctor'), north_1(world), 2, REASON)

    assert await alerts(vigil, world) == before
