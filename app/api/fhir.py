"""FHIR R4 endpoint: vital-sign Observations, one at a time or in a transaction or batch Bundle.

Resources are validated with the `fhir.resources` models of FHIR 4.3 (R4B), which read R4 (4.0.1) Observations and
Bundles unchanged. Vigil stores readings, not resources: a created Observation is echoed without a server id (and
without a Location), with meta.lastUpdated set to when it was stored. Errors are OperationOutcome resources.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue

from app.clock import Clock
from app.errors import DomainError, PatientNotFound
from app.events import BaseEvent, VitalsRecorded
from app.schemas import Actor, VitalReadingIn
from app.services.directory import DirectoryService
from app.services.idempotency import IdempotencyService, StoredResponse
from app.services.patients import PatientService

from .auth import Authenticate
from .errors import DomainErrorRoute, auth_headers, read_body, status_of
from .fhir_mapping import ACCEPTED_OBSERVATIONS, FhirRejected, Issue, parse_observation, readings_of
from .idempotent import IdempotencyKey, idempotent
from .readings import MAX_BATCH
from .request_limits import parse_json

FHIR_JSON = 'application/fhir+json'
ISSUE_CODES = {401: 'login', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 413: 'too-costly',
               422: 'processing'}
REASONS = {200: 'OK', 201: 'Created', 400: 'Bad Request', 422: 'Unprocessable Entity'}


@dataclass(frozen=True)
class Entry:
    """The readings of one Bundle entry (or of a posted Observation), and where it is in the request."""

    index: int
    where: str
    readings: list[VitalReadingIn]

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
    return Response(json.dumps(body), status_code=status_code, headers=headers, media_type=FHIR_JSON)


class FhirRoute(DomainErrorRoute):
    """Every refusal is an OperationOutcome with the matching HTTP status."""

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


def echoed(resource: dict[str, Any], stored_at: datetime) -> dict[str, Any]:
    """Return an accepted Observation as the answer: the client's id dropped, meta.lastUpdated set."""
    resource = {k: v for k, v in resource.items() if k != 'id'}
    resource['meta'] = {**resource.get('meta', {}), 'lastUpdated': instant(stored_at)}
    return resource


def instant(moment: datetime) -> str:
    """Return a FHIR instant in UTC (2026-03-02T08:00:00Z)."""
    return moment.astimezone(UTC).isoformat().replace('+00:00', 'Z')


# Documented only: the route class answers a refused token as an OperationOutcome with these statuses.
AUTH_OUTCOMES: dict[int | str, dict[str, Any]] = {
    401: {'description': 'No valid API token (OperationOutcome)'},
    403: {'description': 'A token of a kind that may not record vitals (OperationOutcome)'}}


def fhir_router(patients: PatientService, directory: DirectoryService, idempotency: IdempotencyService,
                writer: Authenticate, clock: Clock) -> APIRouter:
    """Return the router of the FHIR endpoint."""
    router = APIRouter(prefix='/api/fhir/r4', tags=['FHIR R4'], route_class=FhirRoute)

    async def unknown_patients(actor: Actor, entries: Sequence[Entry]) -> dict[int, FhirRejected]:
        """Return, per entry index, the refusal of entries whose patient is not in the token's hospital."""
        unknown = await directory.unknown_mrns(actor, {r.patient_mrn for entry in entries for r in entry.readings})
        return {entry.index: FhirRejected([Issue('not-found', f'No patient with MRN "{entry.mrn}" in this hospital.',
                                                 f'{entry.where}.subject')])
                for entry in entries if entry.mrn in unknown}

    async def record(actor: Actor, readings: list[VitalReadingIn], answer: StoredResponse) -> StoredResponse:
        if readings:
            try:
                await patients.record_vitals(actor, readings)
            except PatientNotFound as error:  # a patient removed since the check
                raise FhirRejected([Issue('not-found', error.message, '')]) from None
        return answer

    def respond_with(answer: StoredResponse) -> Any:
        def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
            return answer if any(isinstance(e, VitalsRecorded) for e in events) else None
        return respond

    @router.post('/Observation', status_code=201, summary='Create a vital-sign Observation',
                 description=ACCEPTED_OBSERVATIONS, responses={
        201: {'content': {FHIR_JSON: {}}, 'description': 'Stored; the Observation as accepted'},
        400: {'description': 'Not a valid Observation (OperationOutcome)'}, **AUTH_OUTCOMES,
        422: {'description': 'Valid FHIR that Vigil cannot accept (OperationOutcome)'}})
    async def create_observation(request: Request, actor: Annotated[Actor, Depends(writer)],
                                 idempotency_key: IdempotencyKey = None) -> Response:
        """Record the reading(s) of one Observation; a blood pressure panel gives systolic and diastolic."""
        raw = read_json(await read_body(request))
        now = clock()
        readings = readings_of(parse_observation(raw), now)
        for refusal in (await unknown_patients(actor, [Entry(0, 'Observation', readings)])).values():
            raise refusal
        answer = StoredResponse(status_code=201, body=echoed(raw, now))
        return await idempotent(idempotency, request, actor, idempotency_key,
                                lambda: record(actor, readings, answer), respond_with(answer), FHIR_JSON)

    @router.post('', summary='Process a transaction or batch Bundle of Observations', responses={
        200: {'content': {FHIR_JSON: {}}, 'description': 'A transaction-response or batch-response Bundle'},
        400: {'description': 'Not a valid Bundle (OperationOutcome)'}, **AUTH_OUTCOMES,
        422: {'description': 'A transaction with entries Vigil cannot accept: nothing stored (OperationOutcome)'}})
    async def process_bundle(request: Request, actor: Annotated[Actor, Depends(writer)],
                             idempotency_key: IdempotencyKey = None) -> Response:
        """A transaction stores every entry or none (422 OperationOutcome naming every bad entry); a batch stores
        the good entries and answers each bad one with its own OperationOutcome. Each entry is a POST of an
        Observation."""
        raw = read_json(await read_body(request))
        bundle_type = shell(raw)
        now = clock()
        entries: list[Entry] = []
        failures: dict[int, FhirRejected] = {}
        for index, entry in enumerate(raw['entry']):
            where = f'Bundle.entry[{index}].resource'
            try:
                check_request(entry, index)
                entries.append(Entry(index, where, readings_of(parse_observation(entry.get('resource'), where), now,
                                                               where)))
            except FhirRejected as error:
                failures[index] = error
        failures |= await unknown_patients(actor, entries)
        if bundle_type == 'transaction' and failures:
            issues = [i for _, f in sorted(failures.items()) for i in f.issues]
            raise FhirRejected(issues, 400 if any(f.status == 400 for f in failures.values()) else 422)
        accepted = [entry for entry in entries if entry.index not in failures]
        answer = StoredResponse(status_code=200, body=response_bundle(raw, bundle_type, accepted, failures, now))
        readings = [r for entry in accepted for r in entry.readings]
        return await idempotent(idempotency, request, actor, idempotency_key,
                                lambda: record(actor, readings, answer), respond_with(answer), FHIR_JSON)

    return router


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


def check_request(entry: Any, index: int) -> None:
    """Refuse an entry that is not a POST of an Observation."""
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


def response_bundle(raw: dict[str, Any], bundle_type: str, accepted: Sequence[Entry],
                    failures: dict[int, FhirRejected], now: datetime) -> dict[str, Any]:
    """Return the transaction-response or batch-response Bundle, one entry per request entry, in order."""
    entries = raw['entry']
    done = {entry.index for entry in accepted}
    out = []
    for index, entry in enumerate(entries):
        if index in done:
            resource = echoed(entry['resource'], now)
            out.append({'response': {'status': '201 Created', 'lastModified': instant(now)}, 'resource': resource})
        else:
            failure = failures[index]
            out.append({'response': {'status': f'{failure.status} {REASONS[failure.status]}',
                                     'outcome': outcome(failure.issues)}})
    bundle = Bundle.model_validate({'resourceType': 'Bundle', 'type': f'{bundle_type}-response', 'entry': out})
    return bundle.model_dump(mode='json', exclude_none=True)

