"""FHIR R4 vital signs: the specification's own example Observations round-trip, Bundles store all or per entry,
and every refusal is an OperationOutcome."""

import copy
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.bootstrap import Vigil
from app.services.escalation import Watchdog
from data.models import VitalReading

from .api_support import Api, counts, open_api
from .conftest import FakeClock, World
from .fhir_examples import BLOOD_PRESSURE_EXAMPLE, HEART_RATE_EXAMPLE

SNOMED = 'http://snomed.info/sct'
# NHS England's NEWS2 FHIR guidance examples (ACPVU.xml and InspiredOxygen.xml of nhsconnect/FHIR-NEWS2), in R4 JSON
# with UK Core's profiles: the ACVPU answer is a valueCodeableConcept, air or oxygen a code-only Observation.
ACVPU_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': '9011b916-b541-4907-9d7a-2d675eccba60',
    'meta': {'profile': ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-ACVPU']},
    'status': 'final',
    'code': {'coding': [{'system': SNOMED, 'code': '1104441000000107',
                         'display': 'Alert Confusion Voice Pain Unresponsive scale score'}]},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '2018-10-04T14:17:59+01:00',
    'performer': [{'reference': 'Practitioner/example'}, {'reference': 'Organization/example'}],
    'valueCodeableConcept': {'coding': [{'system': SNOMED, 'code': '300202002', 'display': 'Responds to voice'}]},
}
AIR_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': '97fc0792-7d1d-4b21-aa5e-1805ec29c77e',
    'meta': {'profile': ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-InspiredOxygen']},
    'status': 'final',
    'code': {'coding': [{'system': SNOMED, 'code': '722742002', 'display': 'Breathing room air'}]},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '2018-10-04T14:17:59+01:00',
    'performer': [{'reference': 'Practitioner/example'}, {'reference': 'Organization/example'}],
}
MEASURED = '2026-03-02T08:55:00+01:00'  # 07:55 UTC, five minutes before the test clock
FHIR_JSON = 'application/fhir+json'


def for_patient(example: dict[str, Any], mrn: str = 'alpha-North-1', **changes: Any) -> dict[str, Any]:
    """The example, about one of our patients (by MRN identifier) and measured at a time of day."""
    resource = copy.deepcopy(example)
    resource['subject'] = {'identifier': {'system': 'urn:oid:2.16.840.1.113883.19.5', 'value': mrn}}
    resource['effectiveDateTime'] = MEASURED
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}  # None: leave the element out


def same_vital_sign(stored: dict[str, Any], sent: dict[str, Any], patient_id: int) -> bool:
    """Whether the Observation Vigil answers with says what was sent: code, value, unit, patient and time."""
    def loinc_codes(concept: dict[str, Any]) -> set[str]:
        return {c['code'] for c in concept['coding'] if c['system'] == 'http://loinc.org'}

    def value(resource: dict[str, Any]) -> tuple[Any, Any]:
        quantity = resource['valueQuantity']
        return quantity['value'], quantity['code']

    return (stored['resourceType'] == 'Observation' and stored['status'] == 'final'
            and loinc_codes(stored['code']) <= loinc_codes(sent['code']) and value(stored) == value(sent)
            and stored['subject']['reference'] == f'Patient/{patient_id}'
            and stored['subject']['identifier']['value'] == sent['subject']['identifier']['value']
            and datetime.fromisoformat(stored['effectiveDateTime']) == datetime.fromisoformat(
                sent['effectiveDateTime'])
            and stored['category'][0]['coding'][0]['code'] == 'vital-signs')


def entry(resource: dict[str, Any], method: str = 'POST', url: str = 'Observation') -> dict[str, Any]:
    return {'fullUrl': 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a', 'resource': resource,
            'request': {'method': method, 'url': url}}


def bundle(kind: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {'resourceType': 'Bundle', 'type': kind, 'entry': [entry(r) for r in resources]}


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def stored(vigil: Vigil) -> list[tuple[int, str, float, str, str]]:
    async with vigil.db.read() as session:
        rows = await session.execute(select(VitalReading.patient_id, VitalReading.kind, VitalReading.value,
                                            VitalReading.unit, VitalReading.measured_at).order_by(VitalReading.id))
        return [(p, k, v, u, m.isoformat()) for p, k, v, u, m in rows.all()]


def issues(response: Any) -> list[tuple[str, str, list[str]]]:
    body = response.json()
    assert response.headers['content-type'].startswith(FHIR_JSON)
    assert body['resourceType'] == 'OperationOutcome'
    return [(i['code'], i['diagnostics'], i.get('expression', [])) for i in body['issue']]


async def test_the_heart_rate_example_round_trips(api: Api, vigil: Vigil, world: World, clock: FakeClock) -> None:
    resource = for_patient(HEART_RATE_EXAMPLE)

    response = await api.post('/api/fhir/r4/Observation', resource, headers={'Content-Type': FHIR_JSON})

    assert response.status_code == 201
    assert response.headers['content-type'].startswith(FHIR_JSON)
    created = response.json()
    observation_id = created['id']
    assert created['id'] != resource['id']  # the server names what it stores
    assert created['meta'] == {'versionId': '1', 'lastUpdated': '2026-03-02T08:00:00Z',
                               'profile': resource['meta']['profile']}
    assert response.headers['Location'] == f'http://vigil.test/api/fhir/r4/Observation/{observation_id}/_history/1'
    assert response.headers['ETag'] == 'W/"1"'
    assert response.headers['Last-Modified'] == 'Mon, 02 Mar 2026 08:00:00 GMT'
    assert same_vital_sign(created, resource, world.a.patient_ids['North-1'])
    assert await stored(vigil) == [(world.a.patient_ids['North-1'], 'heart_rate', 44.0, '/min',
                                    '2026-03-02T07:55:00+00:00')]
    assert (await api.get(f'/api/fhir/r4/Observation/{observation_id}')).json() == created
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert patient['latest']['heart_rate']['value'] == 44


async def test_the_blood_pressure_panel_gives_systolic_and_diastolic(api: Api, vigil: Vigil, world: World) -> None:
    resource = for_patient(BLOOD_PRESSURE_EXAMPLE, subject={'reference': 'Patient?identifier=urn:x|alpha-South-2'})

    response = await api.post('/api/fhir/r4/Observation', resource)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created['id'].startswith('bp-')
    assert [(c['code']['coding'][0]['code'], c['valueQuantity']) for c in created['component']] == [
        (c['code']['coding'][0]['code'], {**c['valueQuantity'], 'unit': 'mmHg'}) for c in resource['component']]
    assert (await api.get(f'/api/fhir/r4/Observation/{created["id"]}')).json() == created
    south_2 = world.a.patient_ids['South-2']
    assert [row[:4] for row in await stored(vigil)] == [(south_2, 'systolic_bp', 107.0, 'mm[Hg]'),
                                                        (south_2, 'diastolic_bp', 60.0, 'mm[Hg]')]


async def test_temperature_in_fahrenheit_and_spo2_are_accepted(api: Api, vigil: Vigil) -> None:
    temperature = for_patient(HEART_RATE_EXAMPLE, code={'coding': [{'system': 'http://loinc.org', 'code': '8310-5'}]},
                              valueQuantity={'value': 100.4, 'system': 'http://unitsofmeasure.org', 'code': '[degF]'})
    spo2 = for_patient(HEART_RATE_EXAMPLE, code={'coding': [{'system': 'http://loinc.org', 'code': '59408-5'}]},
                       valueQuantity={'value': 93, 'system': 'http://unitsofmeasure.org', 'code': '%'},
                       effectiveInstant=MEASURED)
    del spo2['effectiveDateTime']

    for resource in (temperature, spo2):
        assert (await api.post('/api/fhir/r4/Observation', resource)).status_code == 201
    assert [row[1:4] for row in await stored(vigil)] == [('temperature', 38.0, 'Cel'), ('spo2', 93.0, '%')]


async def test_the_unmodified_example_is_refused_with_every_reason(api: Api, vigil: Vigil) -> None:
    response = await api.post('/api/fhir/r4/Observation', HEART_RATE_EXAMPLE)

    assert response.status_code == 422
    found = issues(response)
    assert [(code, expression) for code, _, expression in found] == [
        ('not-found', ['Observation.subject']), ('value', ['Observation.effectiveDateTime'])]
    assert '"Patient/example" cannot be resolved' in found[0][1]
    assert 'a vital sign needs the time it was measured' in found[1][1]
    assert await stored(vigil) == []


@pytest.mark.parametrize('changes, status, code, expression, message', [
    ({'code': {'coding': [{'system': 'http://loinc.org', 'code': '29463-7'}]}}, 422, 'not-supported',
     'Observation.code', 'no LOINC code of a vital sign'),
    ({'code': {'coding': [{'system': 'http://snomed.info/sct', 'code': '364075005'}]}}, 422, 'not-supported',
     'Observation.code', 'no LOINC code'),
    ({'valueQuantity': {'value': 44, 'system': 'http://unitsofmeasure.org', 'code': 'Hz'}}, 422, 'value',
     'Observation.valueQuantity', 'Heart rate must be sent in "/min", not "Hz"'),
    ({'valueQuantity': {'value': 900, 'system': 'http://unitsofmeasure.org', 'code': '/min'}}, 422, 'value',
     'Observation.valueQuantity', 'Heart rate 900 /min is outside the possible range'),
    ({'valueQuantity': {'value': 44, 'unit': 'beats/minute'}}, 422, 'value', 'Observation.valueQuantity',
     'UCUM code'),
    ({'valueQuantity': None, 'valueString': 'fast'}, 422, 'required', 'Observation.value', 'needs a valueQuantity'),
    ({'status': 'entered-in-error'}, 422, 'business-rule', 'Observation.status', 'not a measurement'),
    ({'effectiveDateTime': '2026-03-02T12:00:00Z'}, 422, 'value', 'Observation.valueQuantity', 'in the future'),
    ({'subject': {'identifier': {'value': 'nobody'}}}, 422, 'not-found', 'Observation.subject',
     'No patient with MRN "nobody"'),
    ({'subject': {'identifier': {'value': 'beta-East-1'}}}, 422, 'not-found', 'Observation.subject',
     'No patient with MRN "beta-East-1"'),
    ({'effectiveDateTime': '2026-03-02T07:55:00'}, 400, 'structure', 'Observation.effectiveDateTime', 'regex'),
    ({'valueQuantity': {'value': 'fast'}}, 400, 'structure', 'Observation.valueQuantity.value', ''),
    ({'colour': 'red'}, 400, 'structure', 'Observation.colour', 'Extra inputs'),
    ({'resourceType': 'Patient'}, 400, 'not-supported', 'Observation', "not 'Patient'"),
])
async def test_an_observation_vigil_cannot_use_gets_an_operation_outcome(
        api: Api, vigil: Vigil, changes: dict[str, Any], status: int, code: str, expression: str,
        message: str) -> None:
    before = await counts(vigil)

    response = await api.post('/api/fhir/r4/Observation', for_patient(HEART_RATE_EXAMPLE, **changes))

    assert response.status_code == status
    [(found_code, diagnostics, found_expression)] = issues(response)
    assert (found_code, found_expression) == (code, [expression])
    assert message in diagnostics
    assert await counts(vigil) == before


@pytest.mark.parametrize('body, status, code', [
    (b'<Observation xmlns="http://hl7.org/fhir"/>', 400, 'structure'),
    (b'[]', 400, 'not-supported'),
])
async def test_a_body_that_is_not_fhir_json_is_refused(api: Api, body: bytes, status: int, code: str) -> None:
    response = await api.post('/api/fhir/r4/Observation', content=body, headers={'Content-Type': FHIR_JSON})

    assert response.status_code == status
    assert issues(response)[0][0] == code


async def test_tokens_are_checked_and_answered_in_fhir(api: Api, vigil: Vigil) -> None:
    resource = for_patient(HEART_RATE_EXAMPLE)

    anonymous = await api.post('/api/fhir/r4/Observation', resource, who=None)
    kiosk = await api.post('/api/fhir/r4', bundle('batch', resource), who='kiosk')

    assert anonymous.status_code == 401
    assert anonymous.headers['WWW-Authenticate'] == 'Bearer'
    assert issues(anonymous)[0][0] == 'login'
    assert kiosk.status_code == 403
    assert issues(kiosk)[0][0] == 'forbidden'
    assert await stored(vigil) == []


async def test_a_transaction_bundle_stores_every_entry(api: Api, vigil: Vigil, clock: FakeClock) -> None:
    request = bundle('transaction', for_patient(HEART_RATE_EXAMPLE), for_patient(BLOOD_PRESSURE_EXAMPLE))

    response = await api.post('/api/fhir/r4', request, headers={'Content-Type': FHIR_JSON})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer['resourceType'], answer['type']) == ('Bundle', 'transaction-response')
    ids = [e['resource']['id'] for e in answer['entry']]
    assert [e['response'] for e in answer['entry']] == [{
        'status': '201 Created', 'location': f'Observation/{i}/_history/1', 'etag': 'W/"1"',
        'lastModified': '2026-03-02T08:00:00Z'} for i in ids]
    assert answer['entry'][1]['resource']['code']['coding'][0]['code'] == '85354-9'
    for created in answer['entry']:
        assert (await api.get(f'/api/fhir/r4/Observation/{created["resource"]["id"]}')).json() == created['resource']
    assert [row[1] for row in await stored(vigil)] == ['heart_rate', 'systolic_bp', 'diastolic_bp']


async def test_a_transaction_with_a_bad_entry_stores_nothing_and_names_each_bad_entry(api: Api, vigil: Vigil) -> None:
    request = bundle('transaction', for_patient(HEART_RATE_EXAMPLE), HEART_RATE_EXAMPLE,
                     for_patient(BLOOD_PRESSURE_EXAMPLE, mrn='nobody'))
    before = await counts(vigil)

    response = await api.post('/api/fhir/r4', request)

    assert response.status_code == 422
    assert [expression for _, _, expression in issues(response)] == [
        ['Bundle.entry[1].resource.subject'], ['Bundle.entry[1].resource.effectiveDateTime'],
        ['Bundle.entry[2].resource.subject']]
    assert await counts(vigil) == before


async def test_a_batch_bundle_stores_the_good_entries_and_answers_each_bad_one(api: Api, vigil: Vigil) -> None:
    bad_value = for_patient(HEART_RATE_EXAMPLE, valueQuantity={'value': 900, 'code': '/min'})
    request = bundle('batch', for_patient(HEART_RATE_EXAMPLE), bad_value, for_patient(BLOOD_PRESSURE_EXAMPLE))
    request['entry'].append(entry(for_patient(HEART_RATE_EXAMPLE), method='PUT', url='Observation/heart-rate'))

    response = await api.post('/api/fhir/r4', request)

    assert response.status_code == 200
    answer = response.json()
    assert answer['type'] == 'batch-response'
    assert [e['response']['status'] for e in answer['entry']] == [
        '201 Created', '422 Unprocessable Entity', '201 Created', '400 Bad Request']
    outcome = answer['entry'][1]['response']['outcome']
    assert outcome['issue'][0]['expression'] == ['Bundle.entry[1].resource.valueQuantity']
    assert 'outside the possible range' in outcome['issue'][0]['diagnostics']
    assert 'request.method POST' in answer['entry'][3]['response']['outcome']['issue'][0]['diagnostics']
    assert [row[1] for row in await stored(vigil)] == ['heart_rate', 'systolic_bp', 'diastolic_bp']


@pytest.mark.parametrize('request_body, message', [
    ({'resourceType': 'Bundle', 'type': 'collection', 'entry': [entry(HEART_RATE_EXAMPLE)]}, 'transaction or batch'),
    ({'resourceType': 'Bundle', 'type': 'batch', 'entry': []}, '1-1000 entries'),
    ({'resourceType': 'Bundle', 'type': 'batch', 'entry': [entry(HEART_RATE_EXAMPLE)] * 1001}, '1-1000 entries'),
    (HEART_RATE_EXAMPLE, 'Post a Bundle'),
])
async def test_a_bundle_that_is_not_a_transaction_or_batch_is_refused(
        api: Api, request_body: dict[str, Any], message: str) -> None:
    response = await api.post('/api/fhir/r4', request_body)

    assert response.status_code == 400
    assert message in issues(response)[0][1]


async def test_a_retried_bundle_is_stored_once(api: Api, vigil: Vigil) -> None:
    request = bundle('batch', for_patient(HEART_RATE_EXAMPLE), for_patient(BLOOD_PRESSURE_EXAMPLE))
    key = {'Idempotency-Key': 'gateway-1/bundle-77'}

    first = await api.post('/api/fhir/r4', request, headers=key)
    retry = await api.post('/api/fhir/r4', request, headers=key)

    assert retry.json() == first.json()
    assert retry.headers['Idempotent-Replayed'] == 'true'
    assert retry.headers['content-type'].startswith(FHIR_JSON)
    assert len(await stored(vigil)) == 3



def answer(code: str, system: str = SNOMED) -> dict[str, Any]:
    return {'coding': [{'system': system, 'code': code}]}


def loinc(code: str, value: float, unit: str) -> dict[str, Any]:
    """An Observation of our patient with one LOINC code and a UCUM valueQuantity."""
    return for_patient(AIR_EXAMPLE, code=answer(code, 'http://loinc.org'),
                       valueQuantity={'value': value, 'system': 'http://unitsofmeasure.org', 'code': unit})


@pytest.mark.parametrize('code, letter, ordinal', [
    ('248234008', 'A', 0), ('130987000', 'C', 1), ('300202002', 'V', 2), ('450847001', 'P', 3), ('422768004', 'U', 4),
])
async def test_each_acvpu_answer_is_stored_as_its_ordinal(
        api: Api, vigil: Vigil, world: World, code: str, letter: str, ordinal: int) -> None:
    resource = for_patient(ACVPU_EXAMPLE, valueCodeableConcept=answer(code))

    response = await api.post('/api/fhir/r4/Observation', resource, headers={'Content-Type': FHIR_JSON})

    assert response.status_code == 201, response.text
    assert response.json()['valueCodeableConcept']['coding'] == resource['valueCodeableConcept']['coding']
    assert await stored(vigil) == [(world.a.patient_ids['North-1'], 'consciousness', float(ordinal), '{ACVPU}',
                                    '2026-03-02T07:55:00+00:00')]
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert patient['latest']['consciousness']['value'] == letter
    assert patient['news2']['sub_scores']['consciousness'] == (0 if letter == 'A' else 3)


@pytest.mark.parametrize('resource, on_oxygen', [
    (for_patient(AIR_EXAMPLE), 0),  # the NEWS2 guidance's code-only form
    (for_patient(AIR_EXAMPLE, code=answer('371825009')), 1),
    (for_patient(AIR_EXAMPLE, code=answer('371825009'),  # UK Core's example: the flow as the value
                 valueQuantity={'value': 2, 'system': 'http://unitsofmeasure.org', 'code': 'L/min'}), 1),
    (for_patient(AIR_EXAMPLE, valueQuantity={'value': 0, 'system': 'http://unitsofmeasure.org', 'code': 'L/min'}), 0),
    (loinc('3151-8', 0, 'L/min'), 0),
    (loinc('3151-8', 0.5, 'l/min'), 1),
    (loinc('3150-0', 21, '%'), 0),
    (loinc('3150-0', 20.9, '%'), 0),
    (loinc('3150-0', 28, '%'), 1),
])
async def test_air_or_oxygen_is_stored_as_0_or_1(
        api: Api, vigil: Vigil, resource: dict[str, Any], on_oxygen: int) -> None:
    response = await api.post('/api/fhir/r4/Observation', resource)

    assert response.status_code == 201, response.text
    assert [row[1:4] for row in await stored(vigil)] == [('on_oxygen', float(on_oxygen), '{bool}')]
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert patient['latest']['on_oxygen']['value'] is bool(on_oxygen)
    assert patient['news2']['sub_scores']['on_oxygen'] == 2 * on_oxygen


L_MIN = {'system': 'http://unitsofmeasure.org', 'code': 'L/min'}


@pytest.mark.parametrize('resource, code, expression, message', [
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept=answer('255373000')), 'value', 'Observation.valueCodeableConcept',
     'SNOMED CT 255373000 is not an ACVPU answer'),  # "Verbal", an AVPU code other value sets use: not UK Core's
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept=answer('300202002', 'http://loinc.org')), 'value',
     'Observation.valueCodeableConcept', 'needs a SNOMED CT coding (system http://snomed.info/sct)'),
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept={'text': 'V'}), 'value', 'Observation.valueCodeableConcept',
     'needs a SNOMED CT coding'),
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept={'coding': [{'system': SNOMED, 'code': '248234008'},
                                                                 {'system': SNOMED, 'code': '422768004'}]}),
     'value', 'Observation.valueCodeableConcept', 'codings of different levels (A, U)'),
    (for_patient(ACVPU_EXAMPLE, code=answer('1104441000000107', 'http://loinc.org')), 'not-supported',
     'Observation.code', 'nor a SNOMED CT code of ACVPU (1104441000000107)'),
    (for_patient(ACVPU_EXAMPLE, code=answer('67775-7', 'http://loinc.org')), 'not-supported', 'Observation.code',
     'no LOINC code of a vital sign'),  # AVPU, without new confusion: its "alert" could hide a confused patient
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept=None), 'required', 'Observation.value',
     'needs its answer as a valueCodeableConcept'),
    (for_patient(ACVPU_EXAMPLE, valueCodeableConcept=None, valueQuantity={'value': 2, 'code': '{ACVPU}'}), 'required',
     'Observation.value', 'needs its answer as a valueCodeableConcept'),
    (for_patient(AIR_EXAMPLE, code=answer('722742002', 'http://loinc.org')), 'not-supported', 'Observation.code',
     'or of air or oxygen (722742002, 371825009)'),
    (for_patient(AIR_EXAMPLE, code={'coding': [{'system': SNOMED, 'code': '722742002'},
                                               {'system': SNOMED, 'code': '371825009'}]}),
     'value', 'Observation.code', 'both breathing room air and on oxygen'),
    (for_patient(AIR_EXAMPLE, valueQuantity={'value': 2, **L_MIN}), 'value', 'Observation.valueQuantity',
     'valueQuantity 2 L/min contradicts Observation.code (breathing room air)'),
    (for_patient(AIR_EXAMPLE, code=answer('371825009'), valueQuantity={'value': 0, **L_MIN}), 'value',
     'Observation.valueQuantity', 'contradicts Observation.code (on oxygen)'),
    (for_patient(AIR_EXAMPLE, code=answer('3151-8', 'http://loinc.org')), 'required', 'Observation.value',
     'needs a valueQuantity'),
    (loinc('3151-8', 2, '%'), 'value', 'Observation.valueQuantity', 'must be sent in "L/min", not "%"'),
    (loinc('3151-8', -1, 'L/min'), 'value', 'Observation.valueQuantity', 'flow rate of -1 L/min is not possible'),
    (loinc('3150-0', 0.28, '1'), 'value', 'Observation.valueQuantity', 'must be sent in "%", not "1"'),
    (loinc('3150-0', 15, '%'), 'value', 'Observation.valueQuantity', 'concentration of 15 % is not possible'),
    (for_patient(AIR_EXAMPLE, valueQuantity={'value': 0, 'unit': 'L/min'}), 'value', 'Observation.valueQuantity',
     'UCUM code'),
])
async def test_an_acvpu_or_oxygen_observation_vigil_cannot_map_is_refused_and_stores_nothing(
        api: Api, vigil: Vigil, resource: dict[str, Any], code: str, expression: str, message: str) -> None:
    before = await counts(vigil)

    response = await api.post('/api/fhir/r4/Observation', resource)

    assert response.status_code == 422
    [(found_code, diagnostics, found_expression)] = issues(response)
    assert (found_code, found_expression) == (code, [expression])
    assert message in diagnostics
    assert await counts(vigil) == before


async def test_a_transaction_with_an_unknown_acvpu_answer_stores_none_of_its_entries(api: Api, vigil: Vigil) -> None:
    request = bundle('transaction', for_patient(HEART_RATE_EXAMPLE), for_patient(AIR_EXAMPLE),
                     for_patient(ACVPU_EXAMPLE, valueCodeableConcept=answer('130987000', 'http://acme.org/acvpu')))
    before = await counts(vigil)

    response = await api.post('/api/fhir/r4', request)

    assert response.status_code == 422
    assert [expression for _, _, expression in issues(response)] == [
        ['Bundle.entry[2].resource.valueCodeableConcept']]
    assert await counts(vigil) == before


async def test_a_bundle_of_all_seven_news2_parameters_gives_a_complete_news2(api: Api, vigil: Vigil,
                                                                            clock: FakeClock) -> None:
    def quantity(code: str, value: float, unit: str) -> dict[str, Any]:
        return for_patient(HEART_RATE_EXAMPLE, code=answer(code, 'http://loinc.org'),
                           valueQuantity={'value': value, 'system': 'http://unitsofmeasure.org', 'code': unit})
    request = bundle('transaction', quantity('9279-1', 22, '/min'), quantity('59408-5', 95, '%'),
                     for_patient(AIR_EXAMPLE, code=answer('371825009')), for_patient(BLOOD_PRESSURE_EXAMPLE),
                     for_patient(HEART_RATE_EXAMPLE), for_patient(ACVPU_EXAMPLE), quantity('8310-5', 38.5, 'Cel'))

    response = await api.post('/api/fhir/r4', request)

    assert response.status_code == 200, response.text
    news2 = (await api.get('/api/v1/patients/alpha-North-1')).json()['news2']
    assert news2['missing'] == []
    # SpO2 waits for its 15 s persistence delay; a spot check with no second reading is confirmed by time.
    assert news2['pending']['spo2']['points'] == 1 and news2['sub_scores']['spo2'] == 0
    clock.advance(seconds=15)
    await Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules).confirm_delays()
    news2 = (await api.get('/api/v1/patients/alpha-North-1')).json()['news2']
    assert news2['sub_scores'] == {'resp_rate': 2, 'spo2': 1, 'on_oxygen': 2, 'systolic_bp': 1, 'heart_rate': 1,
                                   'consciousness': 3, 'temperature': 1}
    assert (news2['total'], news2['risk'], news2['pending']) == (11, 'high', {})


async def test_an_observation_from_years_ago_is_history_only(api: Api, vigil: Vigil) -> None:
    """The 2014 SpO2 of an example never becomes the patient's SpO2, and a low one never alerts."""
    spo2 = for_patient(HEART_RATE_EXAMPLE, code={'coding': [{'system': 'http://loinc.org', 'code': '2708-6'}]},
                       valueQuantity={'value': 85, 'system': 'http://unitsofmeasure.org', 'code': '%'},
                       effectiveDateTime='2014-12-05T09:30:10+01:00')

    assert (await api.post('/api/fhir/r4/Observation', spo2)).status_code == 201

    assert [row[1:3] for row in await stored(vigil)] == [('spo2', 85.0)]  # kept as history
    patient = (await api.get('/api/v1/patients/alpha-North-1')).json()
    assert 'spo2' not in patient['latest'] and 'spo2' in patient['news2']['missing']
    assert (await api.get('/api/v1/alerts')).json() == []
