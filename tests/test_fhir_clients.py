"""Vigil's FHIR endpoint driven by two FHIR client libraries nobody here wrote, against a running server: fhirpy
(async) and SMART on FHIR's fhirclient (sync). What a hospital integration engine would do with them must work."""

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirclient import client as smart
from fhirclient.models.observation import Observation as SmartObservation
from fhirclient.models.patient import Patient as SmartPatient
from fhirclient.server import FHIRNotFoundException
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome

from .browser.harness import VigilServer
from .fhir_examples import BLOOD_PRESSURE_EXAMPLE, HEART_RATE_EXAMPLE, SPEC_EXAMPLES


@pytest.fixture(scope='module')
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilServer]:
    vigil = VigilServer(tmp_path_factory.mktemp('fhir-clients'))
    vigil.start()
    try:
        yield vigil
    finally:
        vigil.stop()


@pytest.fixture(scope='module')
def token(server: VigilServer) -> str:
    return server.create_token('integration', 'fhir client tests')


@pytest.fixture(scope='module')
def patient(server: VigilServer, token: str) -> dict[str, Any]:
    """A demo patient, found through the FHIR Patient search."""
    with httpx.Client(headers={'Authorization': f'Bearer {token}'}) as client:
        bundle = client.get(f'{server.url}/api/fhir/r4/Patient').json()
    resource: dict[str, Any] = bundle['entry'][0]['resource']
    return resource


def base(server: VigilServer) -> str:
    return f'{server.url}/api/fhir/r4'


def measured(example: dict[str, Any], mrn: str, minutes_ago: int) -> dict[str, Any]:
    """The specification's example about a demo patient, measured minutes ago (the examples have a date only)."""
    resource = copy.deepcopy(example)
    resource['subject'] = {'identifier': {'value': mrn}}
    resource['effectiveDateTime'] = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(timespec='seconds')
    return resource


def fhirclient_for(server: VigilServer, token: str) -> smart.FHIRClient:
    client = smart.FHIRClient(settings={'app_id': 'vigil-tests', 'api_base': f'{base(server)}/'})
    client.server.session.headers['Authorization'] = f'Bearer {token}'
    return client


def test_fhirclient_prepares_creates_reads_and_searches(server: VigilServer, token: str,
                                                        patient: dict[str, Any]) -> None:
    client = fhirclient_for(server, token)
    mrn = patient['identifier'][0]['value']

    client.prepare()  # reads the CapabilityStatement
    created = SmartObservation(measured(BLOOD_PRESSURE_EXAMPLE, mrn, minutes_ago=30))
    created.id = None
    answer = created.create(client.server)
    read = SmartObservation.read(answer['id'], client.server)
    found = list(SmartObservation.where({'patient': f'Patient/{patient["id"]}', 'code': '85354-9'})
                 .perform_resources_iter(client.server))
    patients = list(SmartPatient.where({'identifier': mrn}).perform_resources_iter(client.server))

    assert client.server.capabilityStatement.fhirVersion == '4.0.1'
    assert read.id == answer['id']
    assert [(c.code.coding[0].code, c.valueQuantity.value) for c in read.component] == [('8480-6', 107),
                                                                                           ('8462-4', 60)]
    assert answer['id'] in [o.id for o in found]
    assert [p.id for p in patients] == [patient['id']]
    with pytest.raises(FHIRNotFoundException) as refused:
        SmartObservation.read('no-such-observation', client.server)
    assert refused.value.response.json()['resourceType'] == 'OperationOutcome'


async def test_fhirpy_round_trips_every_specification_example(server: VigilServer, token: str,
                                                              patient: dict[str, Any]) -> None:
    client = AsyncFHIRClient(base(server), authorization=f'Bearer {token}')
    mrn = patient['identifier'][0]['value']

    for minutes_ago, example in enumerate(SPEC_EXAMPLES.values(), start=40):
        sent = measured(example, mrn, minutes_ago)
        resource = client.resource('Observation', **{k: v for k, v in sent.items() if k != 'id'})
        await resource.save()
        assert resource['id'] and resource['meta']['versionId'] == '1'
        read = await client.reference('Observation', resource['id']).to_resource()
        assert read.serialize() == resource.serialize()
        assert read['subject']['identifier']['value'] == mrn

    found = await client.resources('Observation').search(
        **{'subject:identifier': mrn}, date=f'ge{(datetime.now(UTC) - timedelta(hours=1)).date().isoformat()}',
    ).sort('-date').limit(2).fetch_all()
    assert len(found) >= 5  # every page followed through the next links
    assert [o['effectiveDateTime'] for o in found] == sorted((o['effectiveDateTime'] for o in found), reverse=True)


async def test_fhirpy_conditional_create_stores_once(server: VigilServer, token: str,
                                                     patient: dict[str, Any]) -> None:
    client = AsyncFHIRClient(base(server), authorization=f'Bearer {token}')
    mrn = patient['identifier'][0]['value']
    sent = measured(HEART_RATE_EXAMPLE, mrn, minutes_ago=20)
    sent.pop('id')
    criteria = {'patient:identifier': mrn, 'code': '8867-4', 'date': sent['effectiveDateTime']}

    first = client.resource('Observation', **copy.deepcopy(sent))
    await first.create(**criteria)
    second = client.resource('Observation', **copy.deepcopy(sent))
    await second.create(**criteria)

    created, was_created = await client.resources('Observation').search(**criteria).get_or_create(
        client.resource('Observation', **copy.deepcopy(sent)))

    assert first['id'] == second['id'] == created['id']
    assert not was_created
    assert len(await client.resources('Observation').search(**criteria).fetch_all()) == 1


async def test_fhirpy_hears_refusals_as_operation_outcomes(server: VigilServer, token: str,
                                                           patient: dict[str, Any]) -> None:
    client = AsyncFHIRClient(base(server), authorization=f'Bearer {token}')
    undated = measured(HEART_RATE_EXAMPLE, patient['identifier'][0]['value'], 0)
    undated['effectiveDateTime'] = '1999-07-02'

    with pytest.raises(FhirpyOutcome) as date_only:
        await client.resource('Observation', **{k: v for k, v in undated.items() if k != 'id'}).save()
    with pytest.raises(FhirpyOutcome) as update:
        await client.resource('Observation', **undated).save()  # with an id: fhirpy sends PUT, which is not here

    assert 'a vital sign needs the time it was measured' in str(date_only.value)
    assert 'PUT is not supported' in str(update.value)


def test_the_server_log_is_clean(server: VigilServer, tmp_path: Path) -> None:
    assert 'Traceback' not in server.log_tail(400)
