"""/openapi.json is a valid OpenAPI 3.1 document and says what the server does (the mismatches schemathesis found).

tests/test_api_schemathesis.py runs schemathesis against a real server; these are the fast regression tests of what
it found, each on the document and on the server.
"""

import re
import sys
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from app.api.health import health_router
from app.bootstrap import build
from app.config import Settings
from app.domain.limits import DEFAULT_LIMITS, CriticalLimit, LimitParameter, check_limit
from app.domain.text import ONE_LINE_PATTERN, ONE_LINE_TEXT_PATTERN, is_unsafe
from app.errors import InvalidInput

from .api_support import Api, api_app, open_api, reading
from .conftest import World

PERSON = 'Dr Jane Roe'


@pytest.fixture
async def spec(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    vigil = build(Settings(database_url=f'sqlite+aiosqlite:///{tmp_path}/vigil.db', data_dir=tmp_path))
    app = api_app(vigil)
    app.include_router(health_router(vigil))  # as main.py serves it: the health routes are in the document too
    yield app.openapi()
    await vigil.close()


@pytest.fixture
async def api(vigil: Any, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


def body_schema(spec: dict[str, Any], path: str, method: str = 'put') -> dict[str, Any]:
    schema = spec['paths'][path][method]['requestBody']['content']['application/json']['schema']
    name = schema['$ref'].rsplit('/', 1)[-1]
    return dict(spec['components']['schemas'][name])


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    validate(spec)  # raises on any error: a 3.2 keyword (itemSchema), a security scheme name with a space, ...

    assert spec['openapi'].startswith('3.1')
    assert 'itemSchema' not in str(spec)
    assert list(spec['components']['securitySchemes']) == ['ApiToken']


def test_each_limit_documents_its_range_and_its_example_is_one_the_server_accepts(spec: dict[str, Any]) -> None:
    spo2 = body_schema(spec, '/api/v1/rules/limits/spo2')['properties']
    assert spo2['high']['anyOf'][0] == {'type': 'integer', 'minimum': 0, 'maximum': 100}  # 140 was allowed
    temperature = body_schema(spec, '/api/v1/rules/limits/temperature')['properties']
    assert temperature['low']['anyOf'][0] == {'type': 'number', 'minimum': 20, 'maximum': 46, 'multipleOf': 0.1}
    assert body_schema(spec, '/api/v1/rules/limits/consciousness')['properties']['low']['anyOf'] == [
        {'type': 'null'}]
    examples = 0
    for parameter in LimitParameter:
        schema = body_schema(spec, f'/api/v1/rules/limits/{parameter.value}')
        if 'examples' not in schema:  # a default without a side: the document holds no null to write it with
            assert None in (DEFAULT_LIMITS[parameter].low, DEFAULT_LIMITS[parameter].high)
            continue
        [example] = schema['examples']
        examples += 1
        check_limit(parameter, CriticalLimit(example['low'], example['high'], example['persistence_seconds'],
                                             example['persistence_readings']))
        assert (example['low'], example['high']) == (DEFAULT_LIMITS[parameter].low, DEFAULT_LIMITS[parameter].high)
    assert examples == 3  # heart rate, respiratory rate, systolic blood pressure
    assert body_schema(spec, '/api/v1/rules/escalation/high')['properties']['minutes']['minItems'] == 1
    assert 'minItems' not in body_schema(spec, '/api/v1/rules/escalation/low')['properties']['minutes']


async def test_a_limit_outside_the_documented_range_is_refused(api: Api) -> None:
    response = await api.send('PUT', '/api/v1/rules/limits/spo2', {'low': 35, 'high': 140, 'persistence_seconds': 10,
                                                                   'acted_by': PERSON})
    assert response.status_code == 422
    assert response.json() == {'detail': 'The high limit of SpO2 must lie within 0-100 %, not 140.'}


def test_a_limit_off_the_charts_resolution_is_refused_however_close() -> None:
    # 2.6e-42 lay within the old tolerance (1e-6) of 0 and was stored as a heart-rate limit.
    for parameter, value in ((LimitParameter.HEART_RATE, 2.5890419884777833e-42), (LimitParameter.HEART_RATE, 40.5),
                             (LimitParameter.TEMPERATURE, 35.05)):
        with pytest.raises(InvalidInput, match='is charted in steps of'):
            check_limit(parameter, CriticalLimit(value, None))
    check_limit(LimitParameter.TEMPERATURE, CriticalLimit(35.1, 39.9))


def test_refusals_are_documented_with_the_shape_they_have(spec: dict[str, Any]) -> None:
    refused = spec['components']['schemas']['Refused']['properties']['detail']['anyOf']
    assert refused[0] == {'type': 'string'}
    assert refused[1]['items'] == {'$ref': '#/components/schemas/FieldProblem'}
    assert 'HTTPValidationError' not in spec['components']['schemas']  # FastAPI's list-only shape
    for path, operations in spec['paths'].items():
        for operation in operations.values():
            content = operation['responses'].get('422', {}).get('content', {})
            if content and path not in ('/api/v1/vitals', '/api/v1/events') and not path.startswith('/api/fhir/'):
                assert content['application/json']['schema'] == {'$ref': '#/components/schemas/Refused'}, path
    vitals = spec['components']['schemas']['ReadingProblems']['properties']['detail']['anyOf']
    assert vitals[0] == {'type': 'string'}  # "An Idempotency-Key has 1-200 printable characters."


def test_the_event_streams_errors_are_json(spec: dict[str, Any]) -> None:
    responses = spec['paths']['/api/v1/events']['get']['responses']
    assert set(responses['200']['content']) == {'text/event-stream'}
    assert responses['200']['content']['text/event-stream']['schema']['properties']['id'] == {'type': 'string'}
    assert set(responses['401']['content']) == set(responses['422']['content']) == {'application/json'}


@pytest.mark.parametrize(('path', 'allowed'), [
    ('/api/v1/alerts', 'GET, POST'), ('/api/v1/rules/limits/spo2', 'PUT, DELETE'),
    ('/api/v1/rules/escalation/high', 'PUT, DELETE'), ('/api/v1/rules/limits/pulse', 'PUT, DELETE'),
    ('/api/v1/vitals', 'POST'),
])
async def test_405_names_every_method_of_the_path(api: Api, path: str, allowed: str) -> None:
    response = await api.send('OPTIONS', path)
    assert response.status_code == 405
    assert response.headers['allow'] == allowed  # was the first route's only: POST for /api/v1/alerts


async def test_times_are_iso_text_not_seconds_since_1970(api: Api) -> None:
    before = await api.get('/api/v1/patients/alpha-North-1/vitals')
    response = await api.post('/api/v1/vitals', reading(measured_at=0))
    assert response.status_code == 422
    assert 'ISO 8601 text' in response.json()['detail'][0]['message']
    until = await api.get('/api/v1/patients/alpha-North-1/vitals', params={'until': '0.5'})
    assert until.status_code == 422
    assert (await api.get('/api/v1/patients/alpha-North-1/vitals')).json() == before.json()


async def test_a_bad_last_event_id_in_the_query_is_refused_beside_a_good_header(api: Api) -> None:
    response = await api.get('/api/v1/events', params={'last_event_id': ''}, headers={'Last-Event-ID': '0'})
    assert response.status_code == 422
    assert 'Last-Event-ID must be an event id' in response.json()['detail']


def test_the_one_line_patterns_refuse_what_the_services_refuse() -> None:
    one_line, text = re.compile(ONE_LINE_PATTERN), re.compile(ONE_LINE_TEXT_PATTERN)
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(character := chr(code)) == 'Cs':
            continue
        assert bool(one_line.fullmatch(character)) is not is_unsafe(character), f'U+{code:04X}'
    assert text.fullmatch('Dr X') and not text.fullmatch('   ') and not text.fullmatch('')
