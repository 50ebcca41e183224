"""POST /api/v1/vitals: one reading or a batch, all-or-nothing, committed before the answer goes out."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from app.clock import Clock
from app.errors import DomainError, PatientNotFound
from app.events import BaseEvent, VitalsRecorded
from app.schemas import Actor, VitalReadingView
from app.services.directory import DirectoryService
from app.services.idempotency import IdempotencyService, StoredResponse
from app.services.ingest import UnknownPatients
from app.services.patients import PatientService

from .auth import Authenticate
from .errors import DomainErrorRoute, ErrorBody, read_body
from .idempotent import IdempotencyKey, idempotent
from .readings import (
    MAX_BATCH,
    Accepted,
    HistoryOnly,
    ReadingIn,
    ReadingProblem,
    ReadingProblems,
    ReadingsRejected,
    parse_batch,
)


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve a pydantic JSON schema's local $defs, so it can stand alone inside an OpenAPI operation."""
    definitions = schema.pop('$defs', {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get('$ref', '')
            if reference.startswith('#/$defs/'):
                return resolve(definitions[reference.removeprefix('#/$defs/')])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return dict(resolve(schema))


def readings_body_schema() -> dict[str, Any]:
    """Return the OpenAPI request body: one reading object, or an array of 1 to MAX_BATCH of them."""
    reading = inline_schema(ReadingIn.model_json_schema())
    return {'required': True, 'content': {'application/json': {'schema': {'oneOf': [
        reading, {'type': 'array', 'items': reading, 'minItems': 1, 'maxItems': MAX_BATCH}]}}}}


class ReadingsRoute(DomainErrorRoute):
    def domain_error(self, request: Request, error: DomainError) -> Response:
        if isinstance(error, ReadingsRejected):
            return Response(ReadingProblems(detail=error.problems).model_dump_json(), status_code=422,
                            media_type='application/json')
        return super().domain_error(request, error)


def history_only(index: int | None, mrn: str, view: VitalReadingView) -> dict[str, Any]:
    """Say in the answer that a reading was kept as history only, and why."""
    return HistoryOnly(
        index=index, patient_mrn=mrn, kind=view.kind.value, measured_at=view.measured_at,
        message=f'measured at {view.measured_at.isoformat()}, longer before it arrived than this hospital\'s '
                'stale-reading age: stored as history only, not the latest value, not scored or alerted on',
    ).model_dump(mode='json')


def vitals_router(patients: PatientService, directory: DirectoryService, idempotency: IdempotencyService,
                  writer: Authenticate, clock: Clock) -> APIRouter:
    """Return the router that records vital signs."""
    router = APIRouter(prefix='/api/v1', tags=['vital signs'], route_class=ReadingsRoute)

    async def record(actor: Actor, body: bytes) -> StoredResponse:
        readings = parse_batch(body, clock())
        try:
            stored = await patients.record_vitals(actor, readings)
        except PatientNotFound as error:
            # Name every reading with an unknown MRN (the service found them all in its own look-up).
            unknown = (error.mrns if isinstance(error, UnknownPatients)
                       else await directory.unknown_mrns(actor, {r.patient_mrn for r in readings}))
            raise ReadingsRejected([
                ReadingProblem(index=i, patient_mrn=r.patient_mrn, kind=r.kind.value,
                               message=f'no patient with MRN "{r.patient_mrn}" in this hospital')
                for i, r in enumerate(readings) if r.patient_mrn in unknown]) from None
        history = [history_only(index, reading.patient_mrn, view) for index, (reading, view)
                   in enumerate(zip(readings, stored, strict=True)) if view.history_only]
        return StoredResponse(status_code=201, body={'accepted': len(stored), 'history_only': history})

    def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
        recorded = [e for e in events if isinstance(e, VitalsRecorded)]
        if not recorded:
            return None
        history = [history_only(None, event.patient.mrn, view) for event in recorded for view in event.readings
                   if view.history_only]
        return StoredResponse(status_code=201, body={'accepted': sum(len(e.readings) for e in recorded),
                                                     'history_only': history})

    @router.post(
        '/vitals', status_code=201, response_model=Accepted, summary='Record vital-sign readings',
        openapi_extra={'requestBody': readings_body_schema()},
        responses={422: {'model': ReadingProblems, 'description': 'Nothing stored; every bad reading and why'},
                   401: {'model': ErrorBody}, 403: {'model': ErrorBody}, 413: {'model': ErrorBody}},
    )
    async def post_vitals(request: Request, actor: Annotated[Actor, Depends(writer)],
                          idempotency_key: IdempotencyKey = None) -> Response:
        """Store one reading (a JSON object) or a batch (an array of up to 1000) for patients of the token's hospital.

        All-or-nothing: either every reading is stored and committed (201 `{"accepted": n}`), or none is and the
        422 answer lists every bad reading with its index, MRN, kind and the reason: unknown kind, wrong unit,
        impossible value, a time without timezone or in the future, an unknown patient. A reading measured longer
        before it arrives than the hospital's stale-reading age (default 24 h) is stored as history only and listed
        in `history_only`: it never becomes the patient's latest value and is never scored or alerted on.
        """
        body = await read_body(request)
        return await idempotent(idempotency, request, actor, idempotency_key, lambda: record(actor, body), respond,
                                look_up_in_write=True)

    return router
