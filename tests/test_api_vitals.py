"""POST /api/v1/vitals: single readings and batches, all-or-nothing, every bad reading named, tokens checked."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.api.errors import MAX_BODY_BYTES
from app.bootstrap import Vigil
from app.services.tokens import TokenService
from data.models import IdempotencyKey, VitalReading

from .api_support import Api, counts, open_api, reading
from .conftest import FakeClock, World


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def stored(vigil: Vigil) -> list[tuple[str, str, float, str]]:
    async with vigil.db.read() as session:
        rows = await session.execute(select(VitalReading.source, VitalReading.kind, VitalReading.value,
                                            VitalReading.unit).order_by(VitalReading.id))
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def test_one_reading_is_stored_and_becomes_the_latest(api: Api, vigil: Vigil, world: World) -> None:
    response = await api.post('/api/v1/vitals', reading(value=118))

    assert response.status_code == 201
    assert response.json() == {'accepted': 1, 'history_only': []}
    assert await stored(vigil) == [('token:alpha device', 'heart_rate', 118.0, '/min')]
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert patient['latest']['heart_rate']['value'] == 118


async def test_a_batch_maps_acvpu_letters_oxygen_flags_and_fahrenheit(api: Api, vigil: Vigil) -> None:
    batch = [
        reading(kind='consciousness', value='V', unit=None),
        reading(kind='on_oxygen', value=True, unit=None),
        reading(kind='temperature', value=101.3, unit='[degF]'),
        reading(mrn='alpha-South-2', kind='spo2', value=93, unit='%'),
        reading(mrn='alpha-South-2', kind='on_oxygen', value=0, unit='{bool}'),
        reading(mrn='alpha-South-2', kind='consciousness', value='a', unit='{ACVPU}'),
    ]

    response = await api.post('/api/v1/vitals', batch)

    assert response.status_code == 201, response.text
    assert response.json() == {'accepted': 6, 'history_only': []}
    assert [(kind, value, unit) for _, kind, value, unit in await stored(vigil)] == [
        ('consciousness', 2.0, '{ACVPU}'), ('on_oxygen', 1.0, '{bool}'), ('temperature', 38.5, 'Cel'),
        ('spo2', 93.0, '%'), ('on_oxygen', 0.0, '{bool}'), ('consciousness', 0.0, '{ACVPU}')]
    latest = (await api.get('/api/v1/patients/alpha-North-1')).json()['latest']
    assert latest['consciousness']['value'] == 'V'
    assert latest['on_oxygen']['value'] is True
    assert latest['temperature'] == {'value': 38.5, 'unit': 'Cel', 'measured_at': '2026-03-02T07:59:00Z',
                                     'age_seconds': 60.0}


BAD_READINGS: list[tuple[str, dict[str, Any], str]] = [
    ('unknown kind', reading(kind='blood_sugar'), "unknown kind 'blood_sugar'"),
    ('wrong unit', reading(unit='bpm'), 'heart rate must be sent in "/min", not "bpm"'),
    ('missing unit', reading(unit=None), 'heart rate needs its unit "/min"'),
    ('heart rate 900', reading(value=900), 'heart rate 900 /min is outside the possible range'),
    ('SpO2 140', reading(kind='spo2', value=140, unit='%'), 'SpO2 140 % is outside the possible range'),
    ('temperature 80', reading(kind='temperature', value=80, unit='Cel'), 'temperature 80 Cel is outside'),
    ('text as a number', reading(value='88'), "heart rate must be a number, not '88'"),
    ('boolean heart rate', reading(value=True), 'heart rate must be a number, not True'),
    ('unknown ACVPU letter', reading(kind='consciousness', value='X', unit=None), 'one of the ACVPU letters'),
    ('consciousness as a number', reading(kind='consciousness', value=2, unit=None), 'one of the ACVPU letters'),
    ('oxygen flag 2', reading(kind='on_oxygen', value=2, unit=None), 'on_oxygen must be true/false or 1/0'),
    ('no timezone', reading(at='2026-03-02T07:59:00'), 'measured_at needs a timezone'),
    ('not a time', reading(at='yesterday'), 'measured_at:'),
    ('in the future', reading(at='2026-03-02T09:00:00+00:00'), 'is in the future'),
    ('missing value', {k: v for k, v in reading().items() if k != 'value'}, 'value is missing'),
    ('unknown field', reading(device='monitor 7'), 'unknown field "device"'),
    ('empty MRN', reading(mrn=''), 'patient_mrn:'),
    ('unknown patient', reading(mrn='nobody'), 'no patient with MRN "nobody"'),
    ("another hospital's patient", reading(mrn='beta-East-1'), 'no patient with MRN "beta-East-1"'),
]


@pytest.mark.parametrize('bad, message', [pytest.param(b, m, id=i) for i, b, m in BAD_READINGS])
async def test_a_bad_reading_rejects_the_batch_and_says_which_and_why(
        api: Api, vigil: Vigil, bad: dict[str, Any], message: str) -> None:
    before = await counts(vigil)

    response = await api.post('/api/v1/vitals', [reading(), bad])

    assert response.status_code == 422
    [problem] = response.json()['detail']
    assert problem['index'] == 1
    assert problem['patient_mrn'] == bad['patient_mrn']
    assert problem['kind'] == bad['kind']
    assert message in problem['message']
    assert await counts(vigil) == before


async def test_every_bad_reading_of_a_batch_is_listed(api: Api, vigil: Vigil) -> None:
    batch = [reading(), reading(value=900), reading(kind='spo2', value=97, unit='%'), reading(mrn='nobody'),
             reading(kind='temperature', value=80, unit='Cel')]

    response = await api.post('/api/v1/vitals', batch)

    assert response.status_code == 422
    assert [(p['index'], p['kind']) for p in response.json()['detail']] == [(1, 'heart_rate'), (4, 'temperature')]
    # Unknown patients are found once the readings themselves are fine.
    response = await api.post('/api/v1/vitals', [reading(), reading(mrn='nobody'), reading(mrn='ghost')])
    assert [(p['index'], p['patient_mrn']) for p in response.json()['detail']] == [(1, 'nobody'), (2, 'ghost')]
    assert await stored(vigil) == []


@pytest.mark.parametrize('body, message', [
    (b'{"patient_mrn": ', 'The body is not valid JSON'),
    (b'42', 'one reading object or an array'),
    (b'[]', 'The array holds no readings.'),
    (b'[7]', 'each reading must be a JSON object'),
])
async def test_a_body_that_is_not_readings_is_refused(api: Api, vigil: Vigil, body: bytes, message: str) -> None:
    response = await api.post('/api/v1/vitals', content=body, headers={'Content-Type': 'application/json'})

    assert response.status_code == 422
    assert message in response.json()['detail'][0]['message']
    assert await stored(vigil) == []


async def test_a_batch_holds_at_most_1000_readings(api: Api, vigil: Vigil, clock: FakeClock) -> None:
    at = clock() - timedelta(hours=1)
    batch = [reading(value=60 + i % 50, at=at + timedelta(seconds=i)) for i in range(1000)]

    assert (await api.post('/api/v1/vitals', batch)).json() == {'accepted': 1000, 'history_only': []}
    response = await api.post('/api/v1/vitals', [*batch, reading()])

    assert response.status_code == 422
    assert response.json()['detail'] == [{'index': None, 'patient_mrn': None, 'kind': None,
                                          'message': 'At most 1000 readings per request; this one has 1001.'}]
    assert len(await stored(vigil)) == 1000


async def test_integrations_record_vitals_and_kiosks_cannot(api: Api, vigil: Vigil) -> None:
    assert (await api.post('/api/v1/vitals', reading(), who='integration')).status_code == 201

    response = await api.post('/api/v1/vitals', reading(value=900), who='kiosk')

    assert response.status_code == 403  # refused before the body is even looked at
    assert response.json() == {'detail': 'A kiosk token cannot record vitals; that needs a device or an '
                                         'integration token.'}
    assert [source for source, *_ in await stored(vigil)] == ['token:alpha integration']


@pytest.mark.parametrize('headers', [
    pytest.param({}, id='no header'),
    pytest.param({'Authorization': 'Basic YWRtaW46ZGVtbw=='}, id='not a bearer token'),
    pytest.param({'Authorization': 'Bearer vgd_unknown'}, id='unknown token'),
    pytest.param({'Authorization': 'Bearer '}, id='empty token'),
])
async def test_without_a_valid_token_nothing_is_recorded(api: Api, vigil: Vigil, headers: dict[str, str]) -> None:
    response = await api.post('/api/v1/vitals', reading(), who=None, headers=headers)

    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == 'Bearer'
    assert 'token' in response.json()['detail']
    assert await stored(vigil) == []


async def test_a_revoked_token_is_refused_from_then_on(api: Api, vigil: Vigil) -> None:
    assert (await api.post('/api/v1/vitals', reading())).status_code == 201
    await vigil.tokens.revoke(hospital_slug='alpha', name='alpha device')

    response = await api.post('/api/v1/vitals', reading(value=90))

    assert response.status_code == 401
    assert response.json() == {'detail': 'The API token is unknown or has been revoked.'}
    assert len(await stored(vigil)) == 1


async def test_a_token_revoked_by_another_process_stores_no_reading_from_then_on(
        api: Api, vigil: Vigil, clock: FakeClock) -> None:
    assert (await api.post('/api/v1/vitals', reading())).status_code == 201
    # Another process (the `token revoke` command) has its own token service: this one's check of the token is still
    # cached, but the write transaction reads the token again.
    await TokenService(vigil.db, clock).revoke(hospital_slug='alpha', name='alpha device')
    clock.advance(seconds=1)

    response = await api.post('/api/v1/vitals', reading(value=90), headers={'Idempotency-Key': 'after-revoke'})

    assert response.status_code == 401
    assert response.json() == {'detail': 'The API token is unknown or has been revoked.'}
    assert response.headers['WWW-Authenticate'] == 'Bearer'
    assert [value for *_, value, _ in await stored(vigil)] == [88.0]
    async with vigil.db.read() as session:
        assert list(await session.scalars(select(IdempotencyKey))) == []


async def test_readings_are_committed_and_published_before_the_answer(api: Api, vigil: Vigil) -> None:
    seen: list[str] = []
    vigil.bus.subscribe(lambda event: seen.append(event.type), name='test')

    response = await api.post('/api/v1/vitals', [reading(), reading(mrn='alpha-North-2', kind='spo2', unit='%')])

    assert response.status_code == 201
    async with vigil.db.read() as session:  # a fresh session: only committed rows
        assert len(list(await session.scalars(select(VitalReading)))) == 2
    await vigil.bus.drain()
    assert seen == ['VitalsRecorded', 'VitalsRecorded']


async def test_an_oversized_body_is_refused_unread(api: Api, vigil: Vigil) -> None:
    response = await api.post('/api/v1/vitals', content=b' ' * (MAX_BODY_BYTES + 1),
                              headers={'Content-Type': 'application/json'})

    assert response.status_code == 413
    assert response.json() == {'detail': 'The body may have at most 8 MiB.'}
    assert await stored(vigil) == []
