"""FHIR R4 endpoint: vital-sign Observations created one at a time or in a transaction or batch Bundle, read back by
id, searched; the patients they are about; the CapabilityStatement; an OperationOutcome for every refusal.

Resources are validated with the `fhir.resources` models of FHIR 4.3 (R4B), which read R4 (4.0.1) Observations and
Bundles unchanged. Vigil stores readings, not resources: an Observation is answered as Vigil keeps it (its codes,
values in Vigil's units, patient, time), under an id the readings carry (services/observation_records.py). JSON only:
XML is refused (406 for answers, 415 for bodies).
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from uuid import uuid4

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from starlette.routing import Match

from app.clock import Clock
from app.errors import DomainError, PatientNotFound
from app.events import BaseEvent, VitalsRecorded
from app.schemas import Actor, VitalReadingIn
from app.services.idempotency import IdempotencyService, StoredResponse
from app.services.observation_records import (
    ObservationRecord,
    ObservationRecords,
    PatientRecord,
    RecordedValue,
    new_observation_id,
)
from app.services.patients import PatientService

from .auth import Authenticate
from .errors import METHODS, DomainErrorRoute, auth_headers, read_body, status_of
from .fhir_mapping import ACCEPTED_OBSERVATIONS, BP_PANEL, FhirRejected, Issue, parse_observation, readings_of
from .fhir_resources import (
    capability_statement,
    instant,
    observation_resource,
    patient_resource,
    searchset,
    version_tag,
)
from .fhir_search import observation_search, patient_search
from .idempotent import IdempotencyKey, idempotent
from .readings import MAX_BATCH
from .request_limits import parse_json

PREFIX = '/api/fhir/r4'
FHIR_JSON = 'application/fhir+json'
JSON_TYPES = ('json', 'application/json', 'application/fhir+json', 'application/json+fhir')
ANY_TYPES = ('*/*', 'application/*')
ISSUE_CODES = {401: 'login', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 413: 'too-costly',
               422: 'processing'}
REASONS = {200: 'OK', 201: 'Created', 400: 'Bad Request', 404: 'Not Found', 412: 'Precondition Failed',
           422: 'Unprocessable Entity'}
SOFTWARE_VERSION = '0.1.0'


@dataclass(frozen=True)
class Entry:
    """The readings of one Bundle entry (or of a posted Observation), and where it is in the request."""

    index: int
    where: str
    readings: list[VitalReadingIn]
    if_none_exist: str | None = None

    @property
    def mrn(self) -> str | None:
        return self.readings[0].patient_mrn if self.readings else None


def outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    """Return an OperationOutcome (as JSON) with one error issue per problem."""
    resource = OperationOutcome(issue=[OperationOutcomeIssue(
        severity='error', code=i.code, diagnostics=i.diagnostics, expression=[i.expression] if i.expression else None)
        for i in issues])
    return resource.model_dump(mode='json', exclude_none=True)


def fhir_response(body: Any, status_code: int, headers: dict[str, str] | None = None) -> Response:
    content = b'' if body is None else json.dumps(body).encode()
    return Response(content, status_code=status_code, headers=headers, media_type=FHIR_JSON)


def refusal(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return fhir_response(outcome([Issue(code, message, '')]), status, headers)


def negotiation_refusal(request: Request) -> Response | None:
    """Refuse (406) a request whose _format or Accept asks for anything but FHIR JSON, (415) a body that is XML."""
    wanted = request.query_params.get('_format')
    if wanted is not None:
        if wanted.split(';')[0].strip().lower() not in JSON_TYPES:
            return refusal(406, 'not-supported', f'_format "{wanted}" is not supported: this server answers in FHIR '
                                                 'JSON only (_format=json or application/fhir+json).')
    elif accept := request.headers.get('accept', '').strip():
        types = [part.split(';')[0].strip().lower() for part in accept.split(',')]
        if not any(t in JSON_TYPES or t in ANY_TYPES for t in types):
            return refusal(406, 'not-supported', f'Accept "{accept}" cannot be served: this server answers in FHIR '
                                                 'JSON only (application/fhir+json).')
    if request.method in ('POST', 'PUT', 'PATCH') and 'xml' in request.headers.get('content-type', '').lower():
        return refusal(415, 'not-supported', 'XML bodies are not supported: send FHIR JSON '
                                             '(Content-Type: application/fhir+json).')
    return None


class FhirRoute(DomainErrorRoute):
    """Every answer is FHIR JSON (or a 406 for a client that wants another format); every refusal an
    OperationOutcome with the matching HTTP status."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def negotiated(request: Request) -> Response:
            return negotiation_refusal(request) or await handler(request)

        return negotiated

    async def invalid_request(self, request: Request, error: RequestValidationError) -> Response:
        return fhir_response(outcome([Issue('invalid', str(e.get('msg')), '') for e in error.errors()]), 400)

    def domain_error(self, request: Request, error: DomainError) -> Response:
        if isinstance(error, FhirRejected):
            return fhir_response(outcome(error.issues), error.status)
        status = status_of(error)
        return fhir_response(outcome([Issue(ISSUE_CODES.get(status, 'processing'), error.message, '')]), status,
                             auth_headers(error))


def read_json(body: bytes) -> Any:
    """Parse a FHIR JSON body, or raise FhirRejected (400)."""
    try:
        return parse_json(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise FhirRejected([Issue('structure', f'The body is not FHIR JSON: {error}.', '')], 400) from None


def base_url(request: Request) -> str:
    """Return the FHIR base as the client reached it."""
    return str(request.base_url).rstrip('/') + PREFIX


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def resource_headers(request: Request, resource: dict[str, Any]) -> dict[str, str]:
    """Return Location, ETag and Last-Modified of a stored resource."""
    headers = {'ETag': version_tag()}
    if last := resource.get('meta', {}).get('lastUpdated'):
        headers['Last-Modified'] = http_date(datetime.fromisoformat(last.replace('Z', '+00:00')))
    headers['Location'] = f'{base_url(request)}/{resource["resourceType"]}/{resource["id"]}/_history/1'
    return headers


def preferred(request: Request, resource: dict[str, Any], status: int, extra: dict[str, str] | None = None) -> Response:
    """Answer a create with the stored resource, or with headers only when the client sent Prefer: return=minimal."""
    headers = resource_headers(request, resource) | (extra or {})
    prefer = request.headers.get('prefer', '').replace(' ', '').lower()
    if 'return=minimal' in prefer:
        return fhir_response(None, status, headers)
    if 'return=operationoutcome' in prefer:
        return fhir_response({'resourceType': 'OperationOutcome', 'issue': [{
            'severity': 'information', 'code': 'informational',
            'diagnostics': f'{resource["resourceType"]}/{resource["id"]} stored.'}]}, status, headers)
    return fhir_response(resource, status, headers)


def stored_record(observation_id: str, patient: PatientRecord, readings: Sequence[VitalReadingIn],
                  received_at: datetime) -> ObservationRecord:
    """Return the Observation as it is stored by recording these readings at received_at."""
    return ObservationRecord(id=observation_id, patient_id=patient.id, mrn=patient.mrn,
                             measured_at=readings[0].measured_at, recorded_at=received_at,
                             panel=observation_id.startswith('bp-'),
                             values=tuple(RecordedValue(kind=r.kind, value=r.value, unit=r.unit) for r in readings))


def with_id(readings: Sequence[VitalReadingIn], panel: bool) -> tuple[str, list[VitalReadingIn]]:
    """Give the readings of one new Observation its id."""
    observation_id = new_observation_id(str(uuid4()), panel)
    return observation_id, [r.model_copy(update={'observation_id': observation_id}) for r in readings]


def conditional_criteria(request: Request) -> str | None:
    """Return the search that makes a create conditional: the If-None-Exist header, or the query string, which is how
    fhirpy (create(**search), get_or_create) and other clients send it."""
    header = request.headers.get('if-none-exist')
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != '_format'])
    if header is not None and query:
        raise FhirRejected([Issue('invalid', 'Send the conditions of a conditional create either as If-None-Exist or '
                                             'as the query string, not both.', 'If-None-Exist')], 400)
    return header if header is not None else query or None


def is_panel(raw: Any) -> bool:
    codes = raw.get('code', {}).get('coding', []) if isinstance(raw, dict) else []
    return any(isinstance(c, dict) and c.get('code') == BP_PANEL for c in codes)


def fhir_router(patients: PatientService, records: ObservationRecords, idempotency: IdempotencyService,
                reader: Authenticate, writer: Authenticate, clock: Clock) -> APIRouter:
    """Return the router of the FHIR endpoint."""
    router = APIRouter(prefix=PREFIX, tags=['FHIR R4'], route_class=FhirRoute)

    async def patients_of(actor: Actor, entries: Sequence[Entry]) -> tuple[dict[str, PatientRecord],
                                                                           dict[int, FhirRejected]]:
        """Return the entries' patients by MRN, and per entry index the refusal of those of an unknown patient."""
        found = {p.mrn: p for p in await records.patients_by_mrn(actor, [e.mrn for e in entries if e.mrn])}
        return found, {entry.index: FhirRejected([Issue(
            'not-found', f'No patient with MRN "{entry.mrn}" in this hospital.', f'{entry.where}.subject')])
            for entry in entries if entry.mrn not in found}

    async def matches(actor: Actor, criteria: str, where: str) -> list[ObservationRecord]:
        """Return up to two Observations that meet a conditional create's criteria (If-None-Exist)."""
        params = parse_qsl(criteria.lstrip('?').removeprefix('Observation?'), keep_blank_values=True)
        if not params:
            raise FhirRejected([Issue('invalid', 'If-None-Exist carries no search parameters.', where)], 400)
        found, _ = await search_observations(actor, params, count=2)
        if len(found) > 1:
            raise FhirRejected([Issue('multiple-matches', f'If-None-Exist "{criteria}" matches more than one '
                                                          'Observation; make the criteria selective.', where)], 412)
        return found

    async def search_observations(actor: Actor, params: Sequence[tuple[str, str]],
                                  count: int | None = None) -> tuple[list[ObservationRecord], bool]:
        search = observation_search(params)
        if count is not None:
            search.count, search.offset = count, 0
        patient_ids = search.patient_ids
        if search.mrns is not None:
            by_mrn = [p.id for p in await records.patients_by_mrn(actor, search.mrns)]
            patient_ids = by_mrn if patient_ids is None else [i for i in patient_ids if i in by_mrn]
        return await records.search(actor, search.query(patient_ids))

    async def record(actor: Actor, readings: list[VitalReadingIn], answer: StoredResponse,
                     received_at: datetime) -> StoredResponse:
        if readings:
            try:
                await patients.record_vitals(actor, readings, received_at=received_at)
            except PatientNotFound as error:  # a patient removed since the check
                raise FhirRejected([Issue('not-found', error.message, '')]) from None
        return answer

    def respond_with(answer: StoredResponse) -> Any:
        def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
            return answer if any(isinstance(e, VitalsRecorded) for e in events) else None
        return respond

    @router.get('/metadata', summary='The CapabilityStatement of this FHIR server', responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'What this server supports, and nothing more'}, **NEGOTIATION})
    async def metadata(request: Request) -> Response:
        """The CapabilityStatement; open without a token, as clients read it before they authenticate."""
        return fhir_response(capability_statement(base_url(request), clock(), SOFTWARE_VERSION), 200)

    @router.post('/Observation', status_code=201, summary='Create a vital-sign Observation',
                 description=ACCEPTED_OBSERVATIONS, responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'A conditional create (If-None-Exist) found its match: that '
                                                      'Observation; nothing stored'},
        201: {'content': {FHIR_JSON: {}}, 'description': 'Stored; the Observation as Vigil keeps it, with its id'},
        400: {'description': 'Not a valid Observation (OperationOutcome)'}, **AUTH_OUTCOMES,
        422: {'description': 'Valid FHIR that Vigil cannot accept (OperationOutcome)'}})
    async def create_observation(request: Request, actor: Annotated[Actor, Depends(writer)],
                                 idempotency_key: IdempotencyKey = None) -> Response:
        """Record the reading(s) of one Observation; a blood pressure panel gives systolic and diastolic."""
        raw = read_json(await read_body(request))
        now = clock()
        readings = readings_of(parse_observation(raw), now)
        found, refused = await patients_of(actor, [Entry(0, 'Observation', readings)])
        for refusal_ in refused.values():
            raise refusal_
        criteria = conditional_criteria(request)
        if criteria is not None and (existing := await matches(actor, criteria, 'If-None-Exist')):
            return preferred(request, observation_resource(existing[0]), 200)
        observation_id, readings = with_id(readings, is_panel(raw))
        resource = observation_resource(stored_record(observation_id, found[readings[0].patient_mrn], readings, now))
        answer = StoredResponse(status_code=201, body=resource)
        response = await idempotent(idempotency, request, actor, idempotency_key,
                                    lambda: record(actor, readings, answer, now), respond_with(answer), FHIR_JSON)
        body = json.loads(bytes(response.body))
        replayed = {k: v for k, v in response.headers.items() if k.lower() == 'idempotent-replayed'}
        return preferred(request, body, response.status_code, replayed) if response.status_code == 201 else response

    @router.get('/Observation/{observation_id}', summary='Read an Observation', responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'The Observation as Vigil keeps it'}, **READ_OUTCOMES})
    async def read_observation(request: Request, observation_id: str,
                               actor: Annotated[Actor, Depends(reader)]) -> Response:
        """Any token of the hospital may read; an id of another hospital is not found."""
        if not FHIR_ID.fullmatch(observation_id):
            raise FhirRejected([Issue('not-found', f'No Observation "{observation_id}" in this hospital.', '')], 404)
        resource = observation_resource(await records.observation(actor, observation_id))
        return fhir_response(resource, 200, {k: v for k, v in resource_headers(request, resource).items()
                                             if k != 'Location'})

    @router.get('/Observation', summary='Search Observations', description=SEARCH_DOCUMENTATION, responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'A searchset Bundle, newest first, with paging links'},
        400: {'description': 'A search parameter Vigil does not support, or a bad value (OperationOutcome)'},
        **READ_OUTCOMES})
    async def search_observation(request: Request, actor: Annotated[Actor, Depends(reader)]) -> Response:
        """Search the hospital's Observations."""
        params = list(request.query_params.multi_items())
        found, more = await search_observations(actor, params)
        search = observation_search(params)
        base = base_url(request)
        kept = [(k, v) for k, v in params if k not in ('_offset', '_count', '_format')]
        kept.append(('_count', str(search.count)))

        def page(offset: int) -> str:
            return f'{base}/Observation?{urlencode([*kept, ("_offset", str(offset))])}'

        links = {'self': page(search.offset)}
        if more:
            links['next'] = page(search.offset + search.count)
        if search.offset:
            links['previous'] = page(max(0, search.offset - search.count))
        return fhir_response(searchset(base, [observation_resource(r) for r in found], links), 200)

    @router.get('/Patient/{patient_id}', summary='Read a Patient', responses={
        200: {'content': {FHIR_JSON: {}}, 'description': "The patient: Vigil's id, the MRN and the name"},
        **READ_OUTCOMES})
    async def read_patient(patient_id: str, actor: Annotated[Actor, Depends(reader)]) -> Response:
        """Any token of the hospital may read; a patient of another hospital is not found."""
        if not patient_id.isdigit() or int(patient_id) >= 2**31:
            raise FhirRejected([Issue('not-found', f'No Patient "{patient_id}" in this hospital.', '')], 404)
        return fhir_response(patient_resource(await records.patient(actor, int(patient_id))), 200)

    @router.get('/Patient', summary='Search Patients', description=(
        'Search parameters (see /metadata): `identifier=[system|]MRN`, `_id`. Without them, every patient the token '
        'may see.'), responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'A searchset Bundle'},
        400: {'description': 'A search parameter Vigil does not support (OperationOutcome)'}, **READ_OUTCOMES})
    async def search_patient(request: Request, actor: Annotated[Actor, Depends(reader)]) -> Response:
        """Find the hospital's patients by MRN."""
        params = list(request.query_params.multi_items())
        mrns, ids = patient_search(params)
        found = await records.patients_by_mrn(actor, mrns) if mrns is not None else await records.patients(actor)
        found = [p for p in found if ids is None or p.id in ids]
        base = base_url(request)
        self_link = f'{base}/Patient?{urlencode(params)}' if params else f'{base}/Patient'
        return fhir_response(searchset(base, [patient_resource(p) for p in found], {'self': self_link}), 200)

    @router.post('', summary='Process a transaction or batch Bundle of Observations', responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'A transaction-response or batch-response Bundle'},
        400: {'description': 'Not a valid Bundle (OperationOutcome)'}, **AUTH_OUTCOMES,
        422: {'description': 'A transaction with entries Vigil cannot accept: nothing stored (OperationOutcome)'}})
    async def process_bundle(request: Request, actor: Annotated[Actor, Depends(writer)],
                             idempotency_key: IdempotencyKey = None) -> Response:
        """A transaction stores every entry or none (an OperationOutcome naming every bad entry); a batch stores
        the good entries and answers each bad one with its own OperationOutcome. Each entry is a POST of an
        Observation, optionally conditional (request.ifNoneExist)."""
        raw = read_json(await read_body(request))
        bundle_type = shell(raw)
        now = clock()
        entries: list[Entry] = []
        failures: dict[int, FhirRejected] = {}
        for index, entry in enumerate(raw['entry']):
            where = f'Bundle.entry[{index}].resource'
            try:
                criteria = check_request(entry, index)
                entries.append(Entry(index, where, readings_of(parse_observation(entry.get('resource'), where), now,
                                                               where), criteria))
            except FhirRejected as error:
                failures[index] = error
        found, refused = await patients_of(actor, entries)
        failures |= refused
        existing: dict[int, ObservationRecord] = {}
        for entry in entries:
            if entry.if_none_exist is not None and entry.index not in failures:
                try:
                    if match := await matches(actor, entry.if_none_exist, f'Bundle.entry[{entry.index}].request'):
                        existing[entry.index] = match[0]
                except FhirRejected as error:
                    failures[entry.index] = error
        if bundle_type == 'transaction' and failures:
            issues = [i for _, f in sorted(failures.items()) for i in f.issues]
            status = 400 if any(f.status == 400 for f in failures.values()) else max(
                f.status for f in failures.values())
            raise FhirRejected(issues, status)
        created: dict[int, ObservationRecord] = {}
        readings: list[VitalReadingIn] = []
        for entry in entries:
            if entry.index not in failures and entry.index not in existing:
                observation_id, mine = with_id(entry.readings, is_panel(raw['entry'][entry.index]['resource']))
                created[entry.index] = stored_record(observation_id, found[mine[0].patient_mrn], mine, now)
                readings += mine
        answer = StoredResponse(status_code=200, body=response_bundle(
            base_url(request), raw, bundle_type, created, existing, failures))
        return await idempotent(idempotency, request, actor, idempotency_key,
                                lambda: record(actor, readings, answer, now), respond_with(answer), FHIR_JSON)

    @router.api_route('', methods=[*METHODS, 'OPTIONS'], include_in_schema=False)
    @router.api_route('/{path:path}', methods=[*METHODS, 'OPTIONS'], include_in_schema=False)
    async def unknown(request: Request) -> Response:
        """Answer a path or method this server does not have as an OperationOutcome (404 or 405 with Allow)."""
        allowed = [method for method in (*METHODS, 'OPTIONS') if any(
            route.matches({**request.scope, 'method': method})[0] is Match.FULL
            for route in router.routes if getattr(route, 'endpoint', None) is not unknown)]
        if allowed:
            return refusal(405, 'not-supported', f'{request.method} is not supported on {request.url.path}; '
                                                 f'this path supports {", ".join(allowed)}. See {PREFIX}/metadata.',
                           {'Allow': ', '.join(allowed)})
        return refusal(404, 'not-supported', f'{request.url.path} is not part of this FHIR server; it supports '
                                             f'Observation, Patient, transaction and batch Bundles and metadata.')

    return router


NEGOTIATION: dict[int | str, dict[str, Any]] = {
    406: {'description': 'Accept or _format asks for something other than FHIR JSON, such as XML (OperationOutcome)'}}
READ_OUTCOMES: dict[int | str, dict[str, Any]] = {
    401: {'description': 'No valid API token (OperationOutcome)'},
    404: {'description': 'Not in this hospital (OperationOutcome)'}, **NEGOTIATION,
    # NOTE: every error under the FHIR base is an OperationOutcome; saying so here also keeps FastAPI from
    # documenting its own list-shaped 422 for a route with a path parameter, which these routes never send.
    '4XX': {'content': {FHIR_JSON: {}}, 'description': 'Any other error (OperationOutcome)'}}
# The search parameters are described, not declared: FHIR search repeats parameters, prefixes values (ge2026-03-01)
# and modifies names (patient:identifier) in ways an OpenAPI parameter list cannot state truthfully.
SEARCH_DOCUMENTATION = (
    'Search parameters (the CapabilityStatement at /metadata lists them): `patient` or `subject` (`Patient/{id}`), '
    '`patient:identifier` or `subject:identifier` (`[system|]MRN`), `code` (LOINC or SNOMED CT, comma-separated), '
    '`date` (prefixes eq, ge, gt, le, lt; repeat for a range), `category` (vital-signs), `_count` (1-1000), `_sort` '
    '(date or -date). Any other parameter is refused (400), never ignored.')
FHIR_ID = re.compile(r'[A-Za-z0-9\-.]{1,64}')

# Documented only: the route class answers a refused token as an OperationOutcome with these statuses.
AUTH_OUTCOMES: dict[int | str, dict[str, Any]] = {
    401: {'description': 'No valid API token (OperationOutcome)'},
    403: {'description': 'A token of a kind that may not record vitals (OperationOutcome)'}, **NEGOTIATION,
    412: {'description': 'The conditions of a conditional create match more than one Observation (OperationOutcome)'},
    415: {'description': 'The body is XML: only FHIR JSON is accepted (OperationOutcome)'}}


def shell(raw: Any) -> str:
    """Check the Bundle around the entries; return its type (transaction or batch) or raise FhirRejected (400)."""
    if not isinstance(raw, dict) or raw.get('resourceType') != 'Bundle':
        raise FhirRejected([Issue('not-supported', 'Post a Bundle of type transaction or batch here '
                                                   '(single Observations go to /Observation).', '')], 400)
    try:
        Bundle.model_validate({k: v for k, v in raw.items() if k != 'entry'})
    except ValueError as error:
        raise FhirRejected([Issue('structure', str(error), 'Bundle')], 400) from None
    if raw.get('type') not in ('transaction', 'batch'):
        raise FhirRejected([Issue('not-supported', f'Bundle.type must be transaction or batch, not '
                                                   f'{raw.get("type")!r}.', 'Bundle.type')], 400)
    entries = raw.get('entry')
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH:
        raise FhirRejected([Issue('structure', f'A Bundle carries 1-{MAX_BATCH} entries.', 'Bundle.entry')], 400)
    return str(raw['type'])


def check_request(entry: Any, index: int) -> str | None:
    """Refuse an entry that is not a POST of an Observation; return its ifNoneExist, if any."""
    where = f'Bundle.entry[{index}]'
    if not isinstance(entry, dict):
        raise FhirRejected([Issue('structure', 'A Bundle entry is a JSON object.', where)], 400)
    try:
        parsed = BundleEntry.model_validate({k: v for k, v in entry.items() if k != 'resource'})
    except ValueError as error:
        raise FhirRejected([Issue('structure', str(error), where)], 400) from None
    request = parsed.request
    if request is None or request.method != 'POST' or str(request.url).split('?')[0].strip('/') != 'Observation':
        raise FhirRejected([Issue('not-supported', 'Each entry must be request.method POST to url "Observation".',
                                  f'{where}.request')], 400)
    return str(request.ifNoneExist) if request.ifNoneExist else None


def response_bundle(base: str, raw: dict[str, Any], bundle_type: str, created: dict[int, ObservationRecord],
                    existing: dict[int, ObservationRecord], failures: dict[int, FhirRejected]) -> dict[str, Any]:
    """Return the transaction-response or batch-response Bundle, one entry per request entry, in order."""
    out: list[dict[str, Any]] = []
    for index in range(len(raw['entry'])):
        if index in failures:
            failure = failures[index]
            out.append({'response': {'status': f'{failure.status} {REASONS[failure.status]}',
                                     'outcome': outcome(failure.issues)}})
            continue
        record, status = (created[index], '201 Created') if index in created else (existing[index], '200 OK')
        resource = observation_resource(record)
        out.append({'fullUrl': f'{base}/Observation/{record.id}', 'resource': resource, 'response': {
            'status': status, 'location': f'Observation/{record.id}/_history/1', 'etag': version_tag(),
            'lastModified': instant(record.recorded_at)}})
    bundle = Bundle.model_validate({'resourceType': 'Bundle', 'type': f'{bundle_type}-response', 'entry': out})
    return bundle.model_dump(mode='json', exclude_none=True)
