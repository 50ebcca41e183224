"""Patients over HTTP: the hospital's patients with latest vitals and NEWS2, and each patient's history in pages."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from app.bootstrap import Vigil
from app.schemas import Actor

from .api_support import Api, open_api, reading
from .conftest import FakeClock, World


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def test_the_list_holds_the_hospitals_patients_by_ward_and_bed(api: Api, world: World) -> None:
    response = await api.get('/api/v1/patients')

    assert response.status_code == 200
    assert [p['mrn'] for p in response.json()] == [
        'alpha-North-1', 'alpha-North-2', 'alpha-South-1', 'alpha-South-2']
    south = await api.get('/api/v1/patients', params={'ward_id': world.a.ward_ids['South']}, who='device')
    assert [p['bed'] for p in south.json()] == ['South-1', 'South-2']
    assert [p['mrn'] for p in (await api.get('/api/v1/patients', who='beta-kiosk')).json()] == [
        'beta-East-1', 'beta-East-2']


async def test_a_patient_shows_the_latest_vitals_and_the_news2_the_service_computed(
        api: Api, vigil: Vigil, world: World, clock: FakeClock) -> None:
    earlier = clock() - timedelta(minutes=10)
    sent = await api.post('/api/v1/vitals', [
        reading(value=120, at=earlier), reading(value=131), reading(kind='resp_rate', value=25),
        reading(kind='spo2', value=91, unit='%'), reading(kind='consciousness', value='C', unit=None),
        reading(kind='on_oxygen', value=False, unit=None)])
    assert sent.status_code == 201

    response = await api.get('/api/v1/patients/alpha-North-1', who='integration')

    assert response.status_code == 200
    patient = response.json()
    assert (patient['mrn'], patient['ward_name'], patient['bed']) == ('alpha-North-1', 'North', 'North-1')
    assert {kind: vital['value'] for kind, vital in patient['latest'].items()} == {
        'heart_rate': 131, 'resp_rate': 25, 'spo2': 91, 'consciousness': 'C', 'on_oxygen': False}
    view = await vigil.patients.get(Actor.system(hospital_id=world.a.hospital_id), world.a.patient_ids['North-1'])
    assert view.news2 is not None
    assert patient['news2'] == view.news2.model_dump(mode='json')
    assert set(patient['news2']) >= {'total', 'sub_scores', 'missing', 'risk'}


@pytest.mark.parametrize('mrn', ['nobody', 'beta-East-1'])
async def test_an_unknown_or_foreign_patient_is_not_found(api: Api, mrn: str) -> None:
    for path in (f'/api/v1/patients/{mrn}', f'/api/v1/patients/{mrn}/vitals'):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.json() == {'detail': f'No patient with MRN "{mrn}".'}


async def test_the_history_comes_newest_first_in_pages(api: Api, clock: FakeClock) -> None:
    start = clock() - timedelta(minutes=30)
    batch = [reading(value=60 + minute, at=start + timedelta(minutes=minute)) for minute in range(7)]
    batch += [reading(kind='spo2', value=95, unit='%', at=start + timedelta(minutes=3))]
    batch += [reading(mrn='alpha-North-2', value=99, at=start)]
    assert (await api.post('/api/v1/vitals', batch)).status_code == 201

    async def page(**params: Any) -> dict[str, Any]:
        response = await api.get('/api/v1/patients/alpha-North-1/vitals', params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    everything = await page()
    assert [(r['kind'], r['value']) for r in everything['items']] == [
        ('heart_rate', 66), ('heart_rate', 65), ('heart_rate', 64), ('spo2', 95), ('heart_rate', 63),
        ('heart_rate', 62), ('heart_rate', 61), ('heart_rate', 60)]  # same time: the later received first
    assert everything['next_cursor'] is None
    assert everything['items'][0]['source'] == 'token:alpha device'

    values, cursor = [], None
    while True:
        current = await page(kind='heart_rate', limit=3, **({'cursor': cursor} if cursor else {}))
        values += [r['value'] for r in current['items']]
        cursor = current['next_cursor']
        if cursor is None:
            break
    assert values == [66, 65, 64, 63, 62, 61, 60]

    window = await page(since=(start + timedelta(minutes=2)).isoformat(), until=(start + timedelta(minutes=4))
                        .isoformat(), kind=['heart_rate', 'spo2'])
    assert [r['value'] for r in window['items']] == [95, 63, 62]


@pytest.mark.parametrize('params', [{'cursor': 'not-a-cursor'}, {'limit': 0}, {'limit': 1001}, {'kind': 'pulse'},
                                    {'since': '2026-03-02T07:00:00'}])
async def test_bad_history_parameters_are_refused(api: Api, params: dict[str, Any]) -> None:
    response = await api.get('/api/v1/patients/alpha-North-1/vitals', params=params)

    assert response.status_code == 422


async def test_reading_needs_a_token(api: Api) -> None:
    response = await api.get('/api/v1/patients', who=None)

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer'
