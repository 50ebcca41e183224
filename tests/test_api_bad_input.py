"""Every bad id, cursor, header and body gets a 4xx with a clear message, never a 500, and changes nothing."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.bootstrap import Vigil
from app.services.patient_history import encode_cursor

from .api_support import Api, counts, open_api
from .conftest import World

HUGE = 10**20  # reproduced: OverflowError (a 500) from the database driver
TOO_BIG = 2**31  # no row of a 32-bit id column has it


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


@pytest.mark.parametrize('alert_id', [HUGE, TOO_BIG, 0, -1])
async def test_an_alert_id_no_row_can_have_is_refused(api: Api, vigil: Vigil, alert_id: int) -> None:
    before = await counts(vigil)
    for method, path in (('GET', ''), ('GET', '/audit'), ('POST', '/acknowledge'), ('POST', '/resolve')):
        body = {'acted_by': 'Dr Jane Roe'} if method == 'POST' else None
        response = await api.send(method, f'/api/v1/alerts/{alert_id}{path}', body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()['detail'][0]['loc'] == ['path', 'alert_id']
    assert await counts(vigil) == before


@pytest.mark.parametrize('path', ['/api/v1/alerts', '/api/v1/patients'])
@pytest.mark.parametrize('ward_id', [HUGE, TOO_BIG, 0])
async def test_a_ward_id_no_row_can_have_is_refused(api: Api, path: str, ward_id: int) -> None:
    response = await api.get(path, params={'ward_id': ward_id})
    assert response.status_code == 422
    assert response.json()['detail'][0]['loc'] == ['query', 'ward_id']


@pytest.mark.parametrize('field, value', [('ward_id', HUGE), ('ward_id', TOO_BIG)])
async def test_a_raised_alert_with_an_impossible_ward_is_refused(api: Api, vigil: Vigil, field: str,
                                                                  value: int) -> None:
    before = await counts(vigil)
    response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'Pump occlusion', field: value})
    assert response.status_code == 422
    assert await counts(vigil) == before


async def test_an_impossible_expected_version_is_refused(api: Api, vigil: Vigil) -> None:
    raised = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'Pump occlusion', 'ward': 'North'})
    alert = raised.json()
    response = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge',
                              {'acted_by': 'Dr Jane Roe', 'expected_version': HUGE}, who='integration')
    assert response.status_code == 422
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json()['status'] == 'active'


@pytest.mark.parametrize('reading_id', [HUGE, 2**63, 0, -5])
async def test_a_forged_cursor_with_an_impossible_reading_id_is_refused(api: Api, reading_id: int) -> None:
    cursor = encode_cursor(datetime(2026, 3, 2, 8, tzinfo=UTC), reading_id)
    response = await api.get('/api/v1/patients/alpha-North-1/vitals', params={'cursor': cursor})
    assert response.status_code == 422
    assert response.json()['detail'] == 'The cursor is not one this server handed out; start again without it.'
