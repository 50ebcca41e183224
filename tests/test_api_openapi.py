"""The API describes itself: every route in the OpenAPI document, tagged, behind the bearer token, with its models."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import build
from app.config import Settings
from app.domain import Priority
from app.domain.limits import LimitParameter

from .api_support import api_app

ROUTES = {
    ('post', '/api/v1/vitals'): 'vital signs',
    ('post', '/api/v1/alerts'): 'alerts',
    ('get', '/api/v1/alerts'): 'alerts',
    ('get', '/api/v1/alerts/{alert_id}'): 'alerts',
    ('get', '/api/v1/alerts/{alert_id}/audit'): 'alerts',
    ('post', '/api/v1/alerts/{alert_id}/acknowledge'): 'alerts',
    ('post', '/api/v1/alerts/{alert_id}/resolve'): 'alerts',
    ('post', '/api/v1/alerts/{alert_id}/snooze'): 'alerts',
    ('get', '/api/v1/patients'): 'patients',
    ('get', '/api/v1/patients/{mrn}'): 'patients',
    ('get', '/api/v1/patients/{mrn}/vitals'): 'patients',
    ('put', '/api/v1/patients/{mrn}/spo2-scale'): 'patients',
    ('get', '/api/v1/rules'): 'rules',
    # One path per parameter and priority: the body's ranges depend on them (tests/test_api_schema.py).
    **{(method, f'/api/v1/rules/limits/{parameter.value}'): 'rules' for parameter in LimitParameter
       for method in ('put', 'delete')},
    **{(method, f'/api/v1/rules/escalation/{priority.value}'): 'rules' for priority in Priority
       for method in ('put', 'delete')},
    ('patch', '/api/v1/rules/settings'): 'rules',
    ('patch', '/api/v1/rules/observations'): 'rules',
    ('get', '/api/v1/events'): 'events',
    ('post', '/api/fhir/r4/Observation'): 'FHIR R4',
    ('post', '/api/fhir/r4'): 'FHIR R4',
    ('get', '/api/v1/webhooks'): 'webhooks',
    ('post', '/api/v1/webhooks'): 'webhooks',
    ('get', '/api/v1/webhooks/{webhook_id}'): 'webhooks',
    ('patch', '/api/v1/webhooks/{webhook_id}'): 'webhooks',
    ('delete', '/api/v1/webhooks/{webhook_id}'): 'webhooks',
    ('get', '/api/v1/webhooks/{webhook_id}/deliveries'): 'webhooks',
    ('post', '/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry'): 'webhooks',
    ('get', '/api/fhir/r4/Observation'): 'FHIR R4',
    ('get', '/api/fhir/r4/Observation/{observation_id}'): 'FHIR R4',
    ('get', '/api/fhir/r4/Patient'): 'FHIR R4',
    ('get', '/api/fhir/r4/Patient/{patient_id}'): 'FHIR R4',
    ('get', '/api/fhir/r4/metadata'): 'FHIR R4',
}
# FHIR clients read the CapabilityStatement before they authenticate.
OPEN = {('get', '/api/fhir/r4/metadata')}


@pytest.fixture
async def spec(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    vigil = build(Settings(database_url=f'sqlite+aiosqlite:///{tmp_path}/vigil.db', data_dir=tmp_path))
    yield api_app(vigil).openapi()  # building the app and its document touches no database
    await vigil.close()


def test_every_route_is_documented_tagged_and_needs_the_token(spec: dict[str, Any]) -> None:
    documented = {(method, path): operation for path, operations in spec['paths'].items()
                  for method, operation in operations.items()}

    assert set(documented) == set(ROUTES)
    for route, tag in ROUTES.items():
        assert documented[route]['tags'] == [tag]
        assert documented[route].get('security') == (None if route in OPEN else [{'ApiToken': []}])
        assert documented[route]['summary']
    scheme = spec['components']['securitySchemes']['ApiToken']
    assert (scheme['type'], scheme['scheme']) == ('http', 'bearer')
    assert 'token create' in scheme['description']


def test_the_readings_body_and_its_answers_are_described(spec: dict[str, Any]) -> None:
    operation = spec['paths']['/api/v1/vitals']['post']
    single, batch = operation['requestBody']['content']['application/json']['schema']['oneOf']

    assert batch == {'type': 'array', 'items': single, 'minItems': 1, 'maxItems': 1000}
    assert set(single['properties']) == {'patient_mrn', 'kind', 'value', 'unit', 'measured_at'}
    assert 'consciousness' in single['properties']['kind']['enum']
    assert operation['responses']['201']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/Accepted'}
    assert operation['responses']['422']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/ReadingProblems'}
    assert {'Idempotency-Key'} == {p['name'] for p in operation['parameters']}


def test_alerts_and_patients_answer_with_their_models(spec: dict[str, Any]) -> None:
    def schema(path: str, method: str, status: str) -> dict[str, Any]:
        return dict(spec['paths'][path][method]['responses'][status]['content']['application/json']['schema'])

    assert schema('/api/v1/alerts', 'post', '201') == {'$ref': '#/components/schemas/AlertView'}
    assert schema('/api/v1/alerts/{alert_id}/acknowledge', 'post', '409') == {
        '$ref': '#/components/schemas/ConflictBody'}
    assert schema('/api/v1/patients/{mrn}', 'get', '200') == {'$ref': '#/components/schemas/PatientOut'}
    assert 'news2' in spec['components']['schemas']['PatientOut']['properties']


def test_rules_and_snooze_document_who_may_write_and_what_is_refused(spec: dict[str, Any]) -> None:
    put = spec['paths']['/api/v1/rules/limits/spo2']['put']

    assert [path.rsplit('/', 1)[-1] for path in spec['paths'] if path.startswith('/api/v1/rules/limits/')] == [
        'heart_rate', 'resp_rate', 'spo2', 'spo2_scale2', 'systolic_bp', 'diastolic_bp', 'temperature',
        'consciousness']
    assert put['requestBody']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/Spo2LimitIn'}
    assert spec['components']['schemas']['Spo2LimitIn']['required'] == [
        'low', 'high', 'persistence_seconds', 'acted_by']
    assert put['responses']['422']['content']['application/json']['schema'] == {
        '$ref': '#/components/schemas/Refused'}
    reset = spec['paths']['/api/v1/rules/limits/spo2']['delete']
    assert next(p for p in reset['parameters'] if p['name'] == 'acted_by')['required'] is True
    assert ("integration tokens may also acknowledge, resolve and snooze alerts, change the alarm rules and prescribe "
            "a patient's SpO2 scale") in spec['components']['securitySchemes']['ApiToken']['description']
    snooze = spec['components']['schemas']['SnoozeIn']
    assert set(snooze['required']) == {'acted_by', 'minutes', 'reason'}
    assert (snooze['properties']['minutes']['minimum'], snooze['properties']['minutes']['maximum']) == (5, 240)
