"""FHIR R4 server behaviour: the specification's vital-sign examples are created, read back and found; conditional
create; CapabilityStatement; search and paging; Patient; negotiation; hospitals see only their own."""

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from app.bootstrap import Vigil

from .api_support import Api, counts, open_api, reading
from .conftest import World
from .fhir_examples import (
    BLOOD_PRESSURE_EXAMPLE,
    BODY_TEMPERATURE_EXAMPLE,
    HEART_RATE_EXAMPLE,
    OXYGEN_SATURATION_EXAMPLE,
    SPEC_EXAMPLES,
)

BASE = '/api/fhir/r4'
FHIR_JSON = 'application/fhir+json'


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


def measured(example: dict[str, Any], mrn: str = 'alpha-North-1', at: str = '2026-03-02T08:55:00+01:00',
             **changes: Any) -> dict[str, Any]:
    """The example about one of our patients, measured at a time of day (the spec's have a date only)."""
    resource = copy.deepcopy(example)
    resource['subject'] = {'identifier': {'system': 'urn:oid:2.16.840.1.113883.19.5', 'value': mrn}}
    resource['effectiveDateTime'] = at
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def outcome_of(response: Any) -> list[tuple[str, str]]:
    assert response.headers['content-type'].startswith(FHIR_JSON), response.text
    body = response.json()
    assert body['resourceType'] == 'OperationOutcome', body
    return [(i['code'], i['diagnostics']) for i in body['issue']]


def values_of(resource: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(LOINC code, value, UCUM unit) of an Observation or of each of its components."""
    parts = resource.get('component') or [resource]
    return [(next(c['code'] for c in p['code']['coding'] if c['system'] == 'http://loinc.org'),
             p['valueQuantity']['value'], p['valueQuantity']['code']) for p in parts]


@pytest.mark.parametrize('example_id', list(SPEC_EXAMPLES))
async def test_each_specification_example_is_created_read_back_and_found(api: Api, world: World,
                                                                       example_id: str) -> None:
    sent = measured(SPEC_EXAMPLES[example_id])

    created = await api.post(f'{BASE}/Observation', sent, headers={'Content-Type': FHIR_JSON})

    assert created.status_code == 201, created.text
    body = created.json()
    Observation.model_validate(body)  # valid FHIR
    read = await api.get(f'{BASE}/Observation/{body["id"]}')
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers['ETag'] == 'W/"1"'
    expected = values_of(sent)
    if example_id == 'satO2':
        expected = [('2708-6', 95, '%')]  # both LOINC codings of SpO2 are one reading, answered as 2708-6
    assert values_of(body) == expected
    assert body['subject']['identifier']['value'] == 'alpha-North-1'
    assert body['subject']['reference'] == f'Patient/{world.a.patient_ids["North-1"]}'
    assert body['effectiveDateTime'] == '2026-03-02T07:55:00Z'
    found = (await api.get(f'{BASE}/Observation', params={
        'patient': f'Patient/{world.a.patient_ids["North-1"]}', 'code': sent['code']['coding'][0]['code']})).json()
    assert [e['resource'] for e in found['entry']] == [body]


@pytest.mark.parametrize('example_id', ['heart-rate', 'respiratory-rate', 'body-temperature', 'blood-pressure'])
async def test_a_date_without_a_time_is_refused_saying_a_vital_sign_needs_one(api: Api, vigil: Vigil,
                                                                             example_id: str) -> None:
    sent = measured(SPEC_EXAMPLES[example_id], at=SPEC_EXAMPLES[example_id]['effectiveDateTime'])
    before = await counts(vigil)

    response = await api.post(f'{BASE}/Observation', sent)

    assert response.status_code == 422
    [(code, diagnostics)] = outcome_of(response)
    assert code == 'value'
    assert 'a vital sign needs the time it was measured' in diagnostics
    assert 'measured_at' not in diagnostics
    assert await counts(vigil) == before


@pytest.mark.parametrize('effective, stored_at', [
    ({'effectiveInstant': '2026-03-02T07:50:00.000Z'}, '2026-03-02T07:50:00Z'),
    ({'effectivePeriod': {'start': '2026-03-02T07:40:00Z', 'end': '2026-03-02T07:45:00Z'}}, '2026-03-02T07:45:00Z'),
    ({'effectivePeriod': {'start': '2026-03-02T08:40:00+01:00'}}, '2026-03-02T07:40:00Z'),
])
async def test_an_instant_or_a_period_is_accepted(api: Api, effective: dict[str, Any], stored_at: str) -> None:
    sent = measured(HEART_RATE_EXAMPLE, effectiveDateTime=None) | effective

    response = await api.post(f'{BASE}/Observation', sent)

    assert response.status_code == 201, response.text
    assert response.json()['effectiveDateTime'] == stored_at


async def test_a_period_without_a_time_is_refused(api: Api) -> None:
    sent = measured(HEART_RATE_EXAMPLE, effectiveDateTime=None) | {'effectivePeriod': {'start': '2026-03-02'}}

    response = await api.post(f'{BASE}/Observation', sent)

    assert response.status_code == 422
    assert 'needs the time it was measured' in outcome_of(response)[0][1]


async def test_the_capability_statement_lists_what_is_supported(api: Api) -> None:
    response = await api.get(f'{BASE}/metadata', who=None)

    assert response.status_code == 200
    assert response.headers['content-type'].startswith(FHIR_JSON)
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert (statement['fhirVersion'], statement['format']) == ('4.0.1', ['json'])
    [rest] = statement['rest']
    resources = {r['type']: r for r in rest['resource']}
    assert set(resources) == {'Observation', 'Patient'}
    assert [i['code'] for i in resources['Observation']['interaction']] == ['create', 'read', 'search-type']
    assert resources['Observation']['conditionalCreate'] is True
    assert {p['name'] for p in resources['Observation']['searchParam']} == {'patient', 'subject', 'code', 'date',
                                                                            'category'}
    assert [i['code'] for i in resources['Patient']['interaction']] == ['read', 'search-type']
    assert [i['code'] for i in rest['interaction']] == ['transaction', 'batch']


async def test_if_none_exist_stores_the_same_observation_once(api: Api, vigil: Vigil, world: World) -> None:
    sent = measured(HEART_RATE_EXAMPLE)
    criteria = {'If-None-Exist': 'patient:identifier=alpha-North-1&code=8867-4&date=2026-03-02T07:55:00Z'}

    first = await api.post(f'{BASE}/Observation', sent, headers=criteria)
    second = await api.post(f'{BASE}/Observation', sent, headers=criteria)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert second.headers['Location'] == first.headers['Location']
    assert (await counts(vigil))['VitalReading'] == 1
    other_time = await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE, at='2026-03-02T07:58:00Z'),
                                headers=criteria)
    assert other_time.status_code == 200  # the criteria decide, not the body: they still match the first
    broad = {'If-None-Exist': 'patient:identifier=alpha-North-1'}
    await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE, at='2026-03-02T07:57:00Z'))
    before = await counts(vigil)
    ambiguous = await api.post(f'{BASE}/Observation', sent, headers=broad)
    assert ambiguous.status_code == 412
    assert outcome_of(ambiguous)[0][0] == 'multiple-matches'
    assert await counts(vigil) == before


async def test_prefer_return_minimal_answers_with_headers_only(api: Api) -> None:
    response = await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE),
                              headers={'Prefer': 'return=minimal'})

    assert response.status_code == 201
    assert response.content == b''
    location = response.headers['Location']
    assert (await api.get(location.removeprefix('http://vigil.test').removesuffix('/_history/1'))).status_code == 200


async def search(api: Api, who: str = 'kiosk', **params: Any) -> dict[str, Any]:
    response = await api.get(f'{BASE}/Observation', who=who, params=params)
    assert response.status_code == 200, response.text
    Bundle.model_validate(response.json())
    return dict(response.json())


async def test_search_by_patient_code_date_and_category_with_paging(api: Api, world: World) -> None:
    times = ['2026-03-01T22:00:00Z', '2026-03-02T06:00:00Z', '2026-03-02T07:00:00Z', '2026-03-02T07:30:00Z']
    for at in times:
        assert (await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE, at=at))).status_code == 201
    await api.post(f'{BASE}/Observation', measured(BODY_TEMPERATURE_EXAMPLE, at=times[3]))
    await api.post(f'{BASE}/Observation', measured(BLOOD_PRESSURE_EXAMPLE, at=times[2]))
    await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE, mrn='alpha-North-2', at=times[3]))
    # A reading from the JSON API is an Observation too, under the reading's own id.
    assert (await api.post('/api/v1/vitals', reading(kind='spo2', value=97, unit='%', at=times[1]))).status_code == 201

    def when(bundle: dict[str, Any]) -> list[str]:
        return [e['resource']['effectiveDateTime'] for e in bundle.get('entry', [])]

    mine = {'subject:identifier': 'urn:oid:2.16.840.1.113883.19.5|alpha-North-1'}
    assert when(await search(api, **mine, code='8867-4')) == times[::-1]
    assert when(await search(api, **mine, code='http://loinc.org|8867-4', _sort='date')) == times
    assert when(await search(api, **mine, code='8867-4', date='2026-03-02')) == times[:0:-1]
    assert when(await search(api, **mine, code='8867-4,8310-5', date=['ge2026-03-02T06:30:00Z',
                                                                       'lt2026-03-02T07:30:00Z'])) == [times[2]]
    assert when(await search(api, **mine, code='8867-4', date='le2026-03-02T06:00:00Z')) == times[:2][::-1]
    panel = await search(api, **mine, code='85354-9')
    assert [values_of(e['resource']) for e in panel['entry']] == [[('8480-6', 107, 'mm[Hg]'), ('8462-4', 60, 'mm[Hg]')]]
    assert (await search(api, **mine, code='8480-6')).get('entry') is None  # a panel's code is 85354-9, not 8480-6
    spo2 = (await search(api, **mine, code='2708-6'))['entry']
    assert [(e['resource']['id'].isdigit(), values_of(e['resource'])) for e in spo2] == [(True, [('2708-6', 97, '%')])]
    assert len((await search(api, **mine, category='vital-signs'))['entry']) == 7
    assert (await search(api, **mine, category='laboratory')).get('entry') is None
    assert (await search(api, **mine, code='29463-7')).get('entry') is None
    everyone = await search(api, code='8867-4', date='2026-03-02T07:30:00Z')
    assert sorted(e['resource']['subject']['identifier']['value'] for e in everyone['entry']) == [
        'alpha-North-1', 'alpha-North-2']

    pages, url = [], f'{BASE}/Observation?patient={world.a.patient_ids["North-1"]}&_count=3'
    while url:
        page = (await api.get(url.removeprefix('http://vigil.test'))).json()
        pages.append([e['resource']['id'] for e in page.get('entry', [])])
        url = next((link['url'] for link in page['link'] if link['relation'] == 'next'), '')
    assert [len(p) for p in pages] == [3, 3, 1]
    assert len({i for p in pages for i in p}) == 7


async def test_on_oxygen_and_room_air_are_found_by_the_codes_they_are_read_back_with(api: Api) -> None:
    """An "on oxygen" reading reads back as SNOMED CT 371825009 (patient on oxygen) or 722742002 (breathing room
    air): searching either code finds exactly the readings shown with it."""
    times = ['2026-03-02T06:00:00Z', '2026-03-02T07:00:00Z', '2026-03-02T07:30:00Z']
    for at, value in zip(times, [0, 1, 0], strict=True):
        body = reading(kind='on_oxygen', value=value, unit='{bool}', at=at)
        assert (await api.post('/api/v1/vitals', body)).status_code == 201

    def found(bundle: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e['resource']['effectiveDateTime'], e['resource']['code']['coding'][0]['code'])
                for e in bundle.get('entry', [])]

    mine = {'subject:identifier': 'alpha-North-1'}
    assert found(await search(api, **mine, code='371825009')) == [(times[1], '371825009')]
    assert found(await search(api, **mine, code='http://snomed.info/sct|722742002')) == [
        (times[2], '722742002'), (times[0], '722742002')]
    assert len(found(await search(api, **mine, code='371825009,722742002'))) == 3
    assert found(await search(api, **mine, code='http://loinc.org|371825009')) == []  # not a LOINC code


@pytest.mark.parametrize('params, message', [
    ({'value-quantity': 'gt100'}, '"value-quantity" is not supported'),
    ({'_include': 'Observation:patient'}, '"_include" is not supported'),
    ({'date': 'sa2026-03-02'}, 'prefix "sa" is not supported'),
    ({'date': 'yesterday'}, 'is not a FHIR date'),
    ({'_count': '0'}, '_count must be a whole number from 1 to 1000'),
    ({'_count': '5000'}, '_count must be a whole number from 1 to 1000'),
    ({'_sort': 'value'}, '_sort may be date or -date'),
    ({'patient': 'alpha-North-1'}, 'patient:identifier'),
])
async def test_a_search_vigil_cannot_do_is_refused_not_ignored(api: Api, params: dict[str, str], message: str) -> None:
    response = await api.get(f'{BASE}/Observation', params=params)

    assert response.status_code == 400
    assert message in outcome_of(response)[0][1]


async def test_patients_are_read_and_found_by_identifier(api: Api, world: World) -> None:
    north_1 = world.a.patient_ids['North-1']

    read = await api.get(f'{BASE}/Patient/{north_1}')
    found = await api.get(f'{BASE}/Patient', params={'identifier': 'urn:oid:1.2.3|alpha-North-1'})
    nobody = await api.get(f'{BASE}/Patient', params={'identifier': 'nobody'})

    assert read.status_code == 200
    Patient.model_validate(read.json())
    assert read.json()['identifier'][0]['value'] == 'alpha-North-1'
    assert [e['resource'] for e in found.json()['entry']] == [read.json()]
    assert nobody.json().get('entry') is None
    assert (await api.get(f'{BASE}/Patient/{north_1}', who='beta-kiosk')).status_code == 404
    assert (await api.get(f'{BASE}/Patient', params={'identifier': 'alpha-North-1'},
                          who='beta-kiosk')).json().get('entry') is None
    assert (await api.get(f'{BASE}/Patient', params={'name': 'x'})).status_code == 400


async def test_another_hospital_can_neither_read_nor_find_an_observation(api: Api, world: World) -> None:
    created = (await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE))).json()

    read = await api.get(f'{BASE}/Observation/{created["id"]}', who='beta-kiosk')
    found = await search(api, who='beta-kiosk', patient=str(world.a.patient_ids['North-1']))
    found_by_mrn = await search(api, who='beta-kiosk', **{'patient:identifier': 'alpha-North-1'})
    listed = await search(api, who='beta-kiosk')

    assert read.status_code == 404
    assert outcome_of(read)[0][0] == 'not-found'
    assert found.get('entry') is found_by_mrn.get('entry') is listed.get('entry') is None
    assert (await api.get(f'{BASE}/Observation/{created["id"]}', who=None)).status_code == 401


@pytest.mark.parametrize('method, path, status, allow', [
    ('GET', '/Encounter', 404, None),
    ('GET', '/Observation/x/_history', 404, None),
    ('PUT', '/Observation/heart-rate', 405, 'GET'),
    ('DELETE', '/Observation/heart-rate', 405, 'GET'),
    ('GET', '', 405, 'POST'),
    ('POST', '/Patient', 405, 'GET'),
])
async def test_unknown_paths_and_methods_answer_an_operation_outcome(api: Api, method: str, path: str, status: int,
                                                                     allow: str | None) -> None:
    response = await api.send(method, f'{BASE}{path}', json=HEART_RATE_EXAMPLE)

    assert response.status_code == status
    assert outcome_of(response)
    assert response.headers.get('Allow') == allow


@pytest.mark.parametrize('headers, params, status', [
    ({'Accept': 'application/fhir+xml'}, {}, 406),
    ({'Accept': 'application/xml'}, {}, 406),
    ({}, {'_format': 'xml'}, 406),
    ({}, {'_format': 'application/fhir+xml'}, 406),
    ({'Accept': 'text/html'}, {}, 406),
    ({'Accept': 'application/fhir+json'}, {'_format': 'json'}, 200),
    ({'Accept': 'text/html,application/xhtml+xml,*/*;q=0.8'}, {}, 200),
    ({'Accept': 'application/json'}, {'_format': 'application/fhir+json'}, 200),
])
async def test_only_json_is_served(api: Api, headers: dict[str, str], params: dict[str, str], status: int) -> None:
    response = await api.get(f'{BASE}/metadata', headers=headers, params=params)

    assert response.status_code == status
    assert response.headers['content-type'].startswith(FHIR_JSON)
    if status == 406:
        assert outcome_of(response)[0][0] == 'not-supported'


async def test_an_xml_body_is_refused_as_unsupported(api: Api, vigil: Vigil) -> None:
    before = await counts(vigil)

    response = await api.post(f'{BASE}/Observation', content=b'<Observation xmlns="http://hl7.org/fhir"/>',
                              headers={'Content-Type': 'application/fhir+xml'})

    assert response.status_code == 415
    assert 'send FHIR JSON' in outcome_of(response)[0][1]
    assert await counts(vigil) == before


async def test_a_batch_entry_with_if_none_exist_is_created_once(api: Api, vigil: Vigil) -> None:
    sent = measured(OXYGEN_SATURATION_EXAMPLE)
    entry = {'fullUrl': 'urn:uuid:0c3d7a4e-2c4c-4d9e-9a43-7c8b1b2f1f11', 'resource': sent,
             'request': {'method': 'POST', 'url': 'Observation',
                         'ifNoneExist': 'patient:identifier=alpha-North-1&code=2708-6&date=2026-03-02T07:55:00Z'}}
    request = {'resourceType': 'Bundle', 'type': 'batch', 'entry': [entry]}

    first = (await api.post(BASE, request)).json()
    again = (await api.post(BASE, request)).json()

    assert first['entry'][0]['response']['status'] == '201 Created'
    assert again['entry'][0]['response']['status'] == '200 OK'
    assert again['entry'][0]['response']['location'] == first['entry'][0]['response']['location']
    assert (await counts(vigil))['VitalReading'] == 1


async def test_a_query_string_makes_a_create_conditional_too(api: Api, vigil: Vigil) -> None:
    criteria = {'patient:identifier': 'alpha-North-1', 'code': '8867-4', 'date': '2026-03-02T07:55:00Z'}

    first = await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE), params=criteria)
    second = await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE), params=criteria)
    both = await api.post(f'{BASE}/Observation', measured(HEART_RATE_EXAMPLE), params=criteria,
                          headers={'If-None-Exist': 'code=8867-4'})

    assert (first.status_code, second.status_code, both.status_code) == (201, 200, 400)
    assert first.json()['id'] == second.json()['id']
    assert 'not both' in outcome_of(both)[0][1]
    assert (await counts(vigil))['VitalReading'] == 1


@pytest.mark.parametrize('path', ['/Observation/a%00b', '/Observation/' + 'x' * 65, '/Patient/99999999999',
                                  '/Patient/Patient-1', '/Observation?patient:identifier=a%00b',
                                  '/Patient?identifier=%01'])
async def test_an_id_or_value_no_resource_can_have_is_refused_before_the_database(api: Api, path: str) -> None:
    response = await api.get(f'{BASE}{path}')

    assert response.status_code in (400, 404)
    assert outcome_of(response)


async def test_options_names_the_methods_a_path_has(api: Api) -> None:
    response = await api.send('OPTIONS', f'{BASE}/Observation')

    assert response.status_code == 405
    assert response.headers['Allow'] == 'GET, POST'
    assert outcome_of(response)
