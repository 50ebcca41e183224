"""POST /api/v1/vitals: one reading or a batch, all-or-nothing, committed before the answer goes out."""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from app.clock import Clock
from app.errors import DomainError, PatientNotFound
from app.events import BaseEvent, VitalsRecorded
from app.schemas import Actor
from app.services.history import DirectoryService
from app.services.idempotency import IdempotencyService, StoredResponse
from app.services.patients import PatientService

from .auth import Authenticate
from .errors import DomainErrorRoute, ErrorBody, read_body
from .idempotent import IdempotencyKey, idempotent
from .readings import MAX_BATCH, Accepted, ReadingIn, ReadingProblem, ReadingProblems, ReadingsRejected, parse_batch


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


def vitals_router(patients: PatientService, directory: DirectoryService, idempotency: IdempotencyService,
                  writer: Authenticate, clock: Clock) -> APIRouter:
    """Return the router that records vital signs."""
    router = APIRouter(prefix='/api/v1', tags=['vital signs'], route_class=ReadingsRoute)

    async def record(actor: Actor, body: bytes) -> StoredResponse:
        readings = parse_batch(body, clock())
        try:
            stored = await patients.record_vitals(actor, readings)
        except PatientNotFound:
            # The first unknown MRN stopped the service; name every reading that has one.
            unknown = await directory.unknown_mrns(actor, {r.patient_mrn for r in readings})
            raise ReadingsRejected([
                ReadingProblem(index=i, patient_mrn=r.patient_mrn, kind=r.kind.value,
                               message=f'no patient with MRN "{r.patient_mrn}" in this hospital')
                for i, r in enumerate(readings) if r.patient_mrn in unknown]) from None
        return StoredResponse(status_code=201, body={'accepted': len(stored)})

    def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
        recorded = [e for e in events if isinstance(e, VitalsRecorded)]
        if not recorded:
            return None
        return StoredResponse(status_code=201, body={'accepted': sum(len(e.readings) for e in recorded)})

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
        impossible value, a time without timezone or in the future, an unknown patient.
        """
        body = await read_body(request)
        return await idempotent(idempotency, request, actor, idempotency_key, lambda: record(actor, body), respond)

    return router
