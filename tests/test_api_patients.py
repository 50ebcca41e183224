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


# --- the SpO2 scale, prescribed -------------------------------------------------------------------------------------

PRESCRIPTION = {'scale': 2, 'reason': 'Confirmed hypercapnic respiratory failure', 'acted_by': 'Dr R. Asante'}


async def test_an_integration_prescribes_scale_2_on_behalf_of_a_clinician(
        api: Api, vigil: Vigil, world: World, clock: FakeClock) -> None:
    response = await api.send('PUT', '/api/v1/patients/alpha-North-1/spo2-scale', PRESCRIPTION)

    assert response.status_code == 200, response.text
    patient = response.json()
    assert (patient['mrn'], patient['spo2_scale'], patient['spo2_scale_set_by'], patient['spo2_scale_reason']) == (
        'alpha-North-1', 2, 'Dr R. Asante (via token:alpha integration)', 'Confirmed hypercapnic respiratory failure')
    assert patient['spo2_scale_set_at'] == clock().isoformat().replace('+00:00', 'Z')
    assert (await api.get('/api/v1/patients/alpha-North-1')).json() == patient
    [entry] = await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), world.a.patient_ids['North-1'])
    assert entry.note == 'SpO2 scale 2 prescribed (target 88-92 %): Confirmed hypercapnic respiratory failure'

    back = await api.send('PUT', '/api/v1/patients/alpha-North-1/spo2-scale',
                          {**PRESCRIPTION, 'scale': 1, 'reason': 'ABG normal on air'})
    assert (back.status_code, back.json()['spo2_scale']) == (200, 1)


@pytest.mark.parametrize('who', ['device', 'kiosk'])
async def test_device_and_kiosk_tokens_may_not_prescribe(api: Api, vigil: Vigil, world: World, who: str) -> None:
    response = await api.send('PUT', '/api/v1/patients/alpha-North-1/spo2-scale', PRESCRIPTION, who=who)

    assert response.status_code == 403
    assert response.json() == {'detail': f"A {who} token cannot prescribe a patient's SpO2 scale; that needs an "
                                         'integration token.'}
    assert await vigil.prescriptions.spo2_scale_history(world.a.actor('doctor'), world.a.patient_ids['North-1']) == []


@pytest.mark.parametrize('body', [
    pytest.param({**PRESCRIPTION, 'scale': 3}, id='scale 3'),
    pytest.param({**PRESCRIPTION, 'scale': 0}, id='scale 0'),
    pytest.param({**PRESCRIPTION, 'scale': '2'}, id='scale as text'),
    pytest.param({**PRESCRIPTION, 'scale': True}, id='scale as bool'),
    pytest.param({**PRESCRIPTION, 'scale': None}, id='scale null'),
    pytest.param({**PRESCRIPTION, 'reason': '   '}, id='blank reason'),
    pytest.param({**PRESCRIPTION, 'reason': 'x' * 501}, id='reason too long'),
    pytest.param({'scale': 2, 'reason': 'why'}, id='nobody named'),
    pytest.param({**PRESCRIPTION, 'acted_by': ' '}, id='blank name'),
    pytest.param({**PRESCRIPTION, 'on_behalf_of': 'Dr X'}, id='unknown field'),
])
async def test_a_bad_prescription_is_refused_and_nothing_changes(
        api: Api, vigil: Vigil, world: World, body: dict[str, Any]) -> None:
    response = await api.send('PUT', '/api/v1/patients/alpha-North-1/spo2-scale', body)

    assert response.status_code == 422, response.text
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert (patient['spo2_scale'], patient['spo2_scale_set_by']) == (1, None)


async def test_the_scale_the_patient_is_on_already_is_refused(api: Api) -> None:
    response = await api.send('PUT', '/api/v1/patients/alpha-North-1/spo2-scale', {**PRESCRIPTION, 'scale': 1})

    assert response.status_code == 422
    assert response.json() == {'detail': 'Patient North-1 is on SpO2 scale 1 already; nothing was changed.'}


@pytest.mark.parametrize('mrn', ['nobody', 'beta-East-1'])
async def test_prescribing_for_an_unknown_or_foreign_patient_is_not_found(api: Api, vigil: Vigil, mrn: str) -> None:
    response = await api.send('PUT', f'/api/v1/patients/{mrn}/spo2-scale', PRESCRIPTION)

    assert response.status_code == 404
    assert response.json() == {'detail': f'No patient with MRN "{mrn}".'}
