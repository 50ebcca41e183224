"""Patients in scope, their latest vitals, and recording readings all-or-nothing."""

import itertools
import re
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app.bootstrap import Vigil
from app.domain import TokenKind, VitalKind
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.events import Event, VitalsRecorded
from app.schemas import Actor, VitalReadingIn
from data.models import EventLogEntry, VitalReading

from .conftest import FakeClock, World

_MONITORS = itertools.count(1)


async def device(vigil: Vigil, world: World) -> Actor:
    """Return the actor a bedside monitor's real device token gives (readings check the token in their commit)."""
    created = await vigil.tokens.create(hospital_slug=world.a.slug, kind=TokenKind.DEVICE,
                                        name=f'monitor {next(_MONITORS)}')
    return await vigil.tokens.verify(created.secret)


def reading(clock: FakeClock, mrn: str = 'alpha-North-1', kind: VitalKind = VitalKind.HEART_RATE,
            value: float = 72, unit: str = '/min', ago: float = 0) -> VitalReadingIn:
    return VitalReadingIn(patient_mrn=mrn, kind=kind, value=value, unit=unit,
                          measured_at=clock() - timedelta(seconds=ago))


async def stored_readings(vigil: Vigil) -> int:
    async with vigil.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(VitalReading)) or 0)


async def test_recorded_readings_become_the_latest_vitals(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event]) -> None:
    await vigil.patients.record_vitals(await device(vigil, world), [
        reading(clock, value=80, ago=60), reading(clock, value=118, ago=5),
        reading(clock, kind=VitalKind.SPO2, value=91, unit='%'),
        reading(clock, mrn='alpha-North-2', kind=VitalKind.TEMPERATURE, value=38.4, unit='Cel'),
    ])
    patient = await vigil.patients.get(world.a.actor('nurse'), world.a.patient_ids['North-1'])
    assert {k: v.value for k, v in patient.latest.items()} == {VitalKind.HEART_RATE: 118, VitalKind.SPO2: 91}
    assert patient.latest[VitalKind.HEART_RATE].measured_at == clock() - timedelta(seconds=5)
    await vigil.bus.drain()
    assert [type(e) for e in received] == [VitalsRecorded, VitalsRecorded]
    by_patient = {e.patient.mrn: e for e in received if isinstance(e, VitalsRecorded)}
    assert len(by_patient['alpha-North-1'].readings) == 3
    assert by_patient['alpha-North-1'].patient.latest[VitalKind.HEART_RATE].value == 118


async def test_an_older_reading_arriving_late_does_not_replace_the_latest(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.patients.record_vitals(await device(vigil, world), [reading(clock, value=100)])
    await vigil.patients.record_vitals(await device(vigil, world), [reading(clock, value=60, ago=600)])
    patient = await vigil.patients.get(world.a.actor('admin'), world.a.patient_ids['North-1'])
    assert patient.latest[VitalKind.HEART_RATE].value == 100


@pytest.mark.parametrize('bad, message', [
    ({'value': 900}, 'heart rate 900 /min is outside the possible range'),
    ({'kind': VitalKind.SPO2, 'value': 140, 'unit': '%'}, 'SpO2 140 % is outside'),
    ({'kind': VitalKind.TEMPERATURE, 'value': 80, 'unit': 'Cel'}, 'temperature 80 Cel is outside'),
    ({'kind': VitalKind.TEMPERATURE, 'value': 37, 'unit': '[degF]'}, 'must be sent in "Cel"'),
    ({'kind': VitalKind.CONSCIOUSNESS, 'value': 1.5, 'unit': '{ACVPU}'}, 'must be a whole number'),
    ({'ago': -3600}, 'is in the future'),
])
async def test_implausible_reading_rejects_the_whole_batch(
        vigil: Vigil, world: World, clock: FakeClock, received: list[Event], bad: dict[str, object],
        message: str) -> None:
    batch = [reading(clock), reading(clock, **bad)]  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=rf'Reading 1 \(alpha-North-1, \w+\): .*{re.escape(message)}'):
        await vigil.patients.record_vitals(await device(vigil, world), batch)
    assert await stored_readings(vigil) == 0
    await vigil.bus.drain()
    assert received == []


async def test_unknown_patient_rejects_the_whole_batch(vigil: Vigil, world: World, clock: FakeClock) -> None:
    with pytest.raises(PatientNotFound, match='Reading 1: no patient with MRN "nobody"'):
        await vigil.patients.record_vitals(await device(vigil, world), [reading(clock), reading(clock, mrn='nobody')])
    assert await stored_readings(vigil) == 0
    async with vigil.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(EventLogEntry)) == 0


async def test_empty_batch_and_kiosk_are_refused(vigil: Vigil, world: World, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match='No readings'):
        await vigil.patients.record_vitals(await device(vigil, world), [])
    kiosk = (await device(vigil, world)).model_copy(update={'token_kind': TokenKind.KIOSK})
    with pytest.raises(NotAllowed, match='read-only'):
        await vigil.patients.record_vitals(kiosk, [reading(clock)])


@pytest.mark.parametrize('fields, problem', [
    ({'kind': 'blood_sugar'}, 'kind'),
    ({'value': float('nan')}, 'finite'),
    ({'measured_at': '2026-03-02T08:00:00'}, 'timezone'),
    ({'patient_mrn': ''}, 'patient_mrn'),
])
def test_reading_schema_rejects_malformed_input(fields: dict[str, object], problem: str) -> None:
    data = {'patient_mrn': 'x', 'kind': 'heart_rate', 'value': 70, 'unit': '/min',
            'measured_at': '2026-03-02T08:00:00Z', **fields}
    with pytest.raises(ValidationError, match=problem):
        VitalReadingIn.model_validate(data)


async def test_nurses_see_their_wards_and_physicians_everyone(vigil: Vigil, world: World) -> None:
    def beds(patients: list) -> list[str]:
        return [p.bed for p in patients]

    assert beds(await vigil.patients.list_patients(world.a.actor('nurse'))) == ['North-1', 'North-2']
    assert beds(await vigil.patients.list_patients(world.a.actor('doctor'))) == [
        'North-1', 'North-2', 'South-1', 'South-2']
    south = world.a.ward_ids['South']
    assert beds(await vigil.patients.list_patients(world.a.actor('admin'), ward_id=south)) == ['South-1', 'South-2']
    with pytest.raises(NotAllowed, match='not on one of your wards'):
        await vigil.patients.get(world.a.actor('nurse'), world.a.patient_ids['South-1'])
    assert (await vigil.patients.get(world.a.actor('nurse'), world.a.patient_ids['North-1'])).latest == {}
