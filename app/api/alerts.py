"""Alerts over HTTP: raise (manual or external), list, read, acknowledge, resolve, snooze, and the audit trail."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictInt, field_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from app.domain import AlertKind, AlertStatus, Priority
from app.domain.limits import RESERVED_DEDUP_PREFIXES, is_reserved_dedup_key
from app.domain.text import ONE_LINE_PATTERN, ONE_LINE_TEXT_PATTERN
from app.errors import Conflict, InvalidInput
from app.events import (
    AlertAcknowledged,
    AlertRaised,
    AlertReactivated,
    AlertResolved,
    AlertRetriggered,
    AlertSnoozed,
    BaseEvent,
)
from app.events.models import AlertEventBase
from app.schemas import Actor, AlertFilter, AlertSort, AlertView, AuditEntryView, NewAlert
from app.services.alerts import SNOOZE_MINUTES, AlertService
from app.services.directory import DirectoryService
from app.services.idempotency import IdempotencyService, StoredResponse

from .auth import Authenticate
from .errors import ERRORS, MALFORMED, REFUSED, DomainErrorRoute, Responses
from .idempotent import IdempotencyKey, idempotent
from .openapi import never_null
from .request_limits import ROW_ID_MAX, RowId, RowIdQuery

# The patterns document what the alert service refuses (app/domain/text.py); it is not checked a second time here.
ONE_LINE: JsonDict = {'pattern': ONE_LINE_PATTERN}
ONE_LINE_TEXT: JsonDict = {'pattern': ONE_LINE_TEXT_PATTERN}
# An alert names its patient or its ward (a null counts as left out).
ALERT_TARGET: list[JsonValue] = [{'required': [name], 'properties': {name: {'not': {'type': 'null'}}}}
                for name in ('patient_mrn', 'ward_id', 'ward')]


class AlertIn(BaseModel):
    """An alert from a device or another system: for a patient (by MRN), or for a ward when no patient is concerned."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={
        'anyOf': ALERT_TARGET, 'examples': [
        {'patient_mrn': 'G100101', 'priority': 'high', 'message': 'Infusion pump occlusion, bed 4',
         'dedup_key': 'pump-17:occlusion'},
    ]})

    priority: Priority
    message: str = Field(min_length=1, max_length=500, json_schema_extra=ONE_LINE_TEXT)
    patient_mrn: str | None = Field(default=None, min_length=1, max_length=64)
    ward_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX,
                                description='The ward, when no patient_mrn is given (or ward).')
    ward: str | None = Field(default=None, min_length=1, max_length=100, description='The ward by name.')
    dedup_key: str | None = Field(default=None, min_length=1, max_length=200, description=(
        'While an alert with this key is open for the same patient (or, for a ward alert, the same ward), raising it '
        'again counts one more occurrence instead of a new alert; the same key for another patient or ward raises '
        'that one\'s own alert. '
        f'Keys starting with {", ".join(RESERVED_DEDUP_PREFIXES)} are reserved for Vigil\'s own detection.'))
    kind: Literal['external', 'manual'] = 'external'

    @field_validator('dedup_key')
    @classmethod
    def _not_reserved(cls, key: str | None) -> str | None:
        # An outside alert under detection's key would merge into the detected alert (and be cleared with it).
        if key is not None and is_reserved_dedup_key(key):
            raise ValueError(f'dedup keys starting with {", ".join(RESERVED_DEDUP_PREFIXES)} are reserved for '
                             f'Vigil\'s own detection; choose another, such as "pump-17:occlusion"')
        return key


def acted_by_required(schema: JsonDict) -> None:
    """Document acted_by of AlertActionIn as required and never null (the service refuses an action without it)."""
    never_null(schema, ('acted_by',))
    schema['required'] = ['acted_by']


class AlertActionIn(BaseModel):
    """Who acknowledges or resolves, and optionally why and on which version."""

    # Only integration tokens acknowledge and resolve, always on behalf of a person: the document requires acted_by.
    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra=acted_by_required)

    acted_by: str | None = Field(default=None, max_length=150, description=(
        'The person who acted, recorded in the audit trail; required (integration tokens act on behalf of people).'),
        json_schema_extra=ONE_LINE_TEXT)
    note: str | None = Field(default=None, max_length=1000, json_schema_extra=ONE_LINE)
    expected_version: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description=(
        'The alert version the person saw; if the alert changed since, the answer is 409 with the current one.'))


# A missing or null body is refused by the service (no acted_by); the document requires the object.
OptionalAction = AlertActionIn | SkipJsonSchema[None]


class SnoozeIn(BaseModel):
    """Who snoozes a detected alert's trigger, for how long and why."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'acted_by': 'Dr Jane Roe', 'minutes': 30, 'reason': 'known atrial fibrillation, cardiology aware'},
    ]})

    acted_by: str = Field(min_length=1, max_length=150, description=(
        'The charge nurse, physician or administrator who decided, recorded in the audit trail; the integration '
        'vouches for their role.'), json_schema_extra=ONE_LINE_TEXT)
    minutes: StrictInt = Field(ge=SNOOZE_MINUTES[0], le=SNOOZE_MINUTES[1], description='How long, in whole minutes.')
    reason: str = Field(min_length=1, max_length=500, description='Why, for the audit trail.',
                        json_schema_extra=ONE_LINE_TEXT)
    expected_version: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description=(
        'The alert version the person saw; if the alert changed since, the answer is 409 with the current one.'))


class ConflictBody(BaseModel):
    """The action clashes with the alert's current state; the current alert is included to decide again."""

    detail: str
    current_version: int | None
    alert: AlertView | None


def alert_answer(view: AlertView, status_code: int = 200) -> StoredResponse:
    """Return an alert as the JSON answer."""
    return StoredResponse(status_code=status_code, body=view.model_dump(mode='json'))


def alert_from(events: Sequence[BaseEvent], *types: type[AlertEventBase]) -> AlertEventBase | None:
    """Return the first alert event of these types in a commit."""
    return next((e for e in events if isinstance(e, types)), None)


def alerts_router(alerts: AlertService, directory: DirectoryService, idempotency: IdempotencyService,
                  reader: Authenticate, raiser: Authenticate, responder: Authenticate, snoozer: Authenticate
                  ) -> APIRouter:
    """Return the router of the alert routes."""
    router = APIRouter(prefix='/api/v1/alerts', tags=['alerts'], route_class=DomainErrorRoute)

    @router.post('', status_code=201, response_model=AlertView, summary='Raise an alert', responses={
        200: {'model': AlertView, 'description': 'An open alert of the same patient (or ward) with the same dedup_key '
                                                 'counted one more occurrence'},
        **ERRORS, **MALFORMED})
    async def raise_alert(request: Request, body: AlertIn, actor: Annotated[Actor, Depends(raiser)],
                          idempotency_key: IdempotencyKey = None) -> Response:
        """Raise an alert for a patient or a ward (201), or count one more occurrence of the open alert of the same
        patient (or ward) with the same dedup_key (200)."""

        async def run() -> StoredResponse:
            patient_id = await directory.patient_id(actor, body.patient_mrn) if body.patient_mrn else None
            ward_id = body.ward_id
            if body.ward is not None:
                by_name = await directory.ward_id(actor, body.ward)
                if ward_id is not None and ward_id != by_name:
                    raise InvalidInput(f'ward_id {ward_id} is not the ward named "{body.ward}".')
                ward_id = by_name
            if patient_id is None and ward_id is None:
                raise InvalidInput('An alert needs a patient_mrn, or a ward (ward_id or ward name).')
            view = await alerts.raise_alert(actor, NewAlert(
                priority=body.priority, message=body.message, patient_id=patient_id, ward_id=ward_id,
                kind=AlertKind(body.kind), dedup_key=body.dedup_key))
            return alert_answer(view, 201 if view.occurrences == 1 else 200)

        def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
            event = alert_from(events, AlertRaised, AlertRetriggered, AlertReactivated)
            return alert_answer(event.alert, 201 if isinstance(event, AlertRaised) else 200) if event else None

        return await idempotent(idempotency, request, actor, idempotency_key, run, respond)

    @router.get('', response_model=list[AlertView], summary='List alerts', responses=ERRORS)
    async def list_alerts(
            actor: Annotated[Actor, Depends(reader)],
            status: Annotated[list[AlertStatus] | None, Query(description='Default: the open ones')] = None,
            priority: Annotated[list[Priority] | None, Query()] = None,
            ward_id: RowIdQuery = None,
            patient_mrn: Annotated[str | None, Query(max_length=64)] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
            sort: Annotated[AlertSort, Query(description=(
                '`attention` (default): the needs-attention order described above; `newest`: newest raised '
                'first. Anything else is refused with 422.'))] = 'attention') -> list[AlertView]:
        """The token's hospital's alerts, by default in the needs-attention order that the dashboard and the wall
        displays use too: unacknowledged (active) before acknowledged and resolved; then priority (critical, high,
        medium, low); then escalation level, highest first; then longest waiting first, where an alert waits since
        `waiting_since` (when it was raised, or re-alarmed at a higher priority); then the id."""
        patient_id = await directory.patient_id(actor, patient_mrn) if patient_mrn else None
        query = AlertFilter(statuses=tuple(status or (AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED)),
                            priorities=tuple(priority or ()), ward_id=ward_id, patient_id=patient_id, limit=limit,
                            sort=sort)
        return await alerts.list_alerts(actor, query)

    @router.get('/{alert_id}', response_model=AlertView, summary='Read an alert', responses=ERRORS)
    async def get_alert(alert_id: RowId, actor: Annotated[Actor, Depends(reader)]) -> AlertView:
        return await alerts.get(actor, alert_id)

    @router.get('/{alert_id}/audit', response_model=list[AuditEntryView], summary="An alert's audit trail",
                responses=ERRORS)
    async def audit(alert_id: RowId, actor: Annotated[Actor, Depends(reader)]) -> list[AuditEntryView]:
        """Every recorded step of the alert, oldest first."""
        return await alerts.audit_trail(actor, alert_id)

    async def act(request: Request, actor: Actor, alert_id: RowId, key: str | None,
                  action: Callable[[], Awaitable[AlertView]], event_type: type[AlertEventBase]) -> Response:
        async def run() -> StoredResponse:
            return alert_answer(await action())

        def respond(events: Sequence[BaseEvent]) -> StoredResponse | None:
            event = alert_from(events, event_type)
            return alert_answer(event.alert) if event else None

        try:
            return await idempotent(idempotency, request, actor, key, run, respond)
        except Conflict as error:
            current = await alerts.get(actor, alert_id)
            return JSONResponse(ConflictBody(detail=error.message, current_version=current.version,
                                             alert=current).model_dump(mode='json'), status_code=409)

    # The body is optional to the model, but acted_by is required: a request without one is refused.
    BODY_REQUIRED = {'requestBody': {'required': True}}
    conflict: Responses = {
        409: {'model': ConflictBody, 'description': 'Already done, or changed since expected_version'}}

    @router.post('/{alert_id}/acknowledge', response_model=AlertView, summary='Acknowledge an alert',
                 responses={**ERRORS, **MALFORMED, **conflict}, openapi_extra=BODY_REQUIRED)
    async def acknowledge(request: Request, alert_id: RowId, actor: Annotated[Actor, Depends(responder)],
                          body: OptionalAction = None, idempotency_key: IdempotencyKey = None) -> Response:
        """Someone is on it: the alert stops escalating. Recorded in the audit trail under acted_by."""
        given = body or AlertActionIn()
        return await act(request, actor, alert_id, idempotency_key, lambda: alerts.acknowledge(
            actor, alert_id, expected_version=given.expected_version, note=given.note, on_behalf_of=given.acted_by),
            AlertAcknowledged)

    @router.post('/{alert_id}/resolve', response_model=AlertView, summary='Resolve an alert',
                 responses={**ERRORS, **MALFORMED, **conflict}, openapi_extra=BODY_REQUIRED)
    async def resolve(request: Request, alert_id: RowId, actor: Annotated[Actor, Depends(responder)],
                      body: OptionalAction = None, idempotency_key: IdempotencyKey = None) -> Response:
        """Close an open alert (acknowledged or not). Recorded in the audit trail under acted_by."""
        given = body or AlertActionIn()
        return await act(request, actor, alert_id, idempotency_key, lambda: alerts.resolve(
            actor, alert_id, expected_version=given.expected_version, note=given.note, on_behalf_of=given.acted_by),
            AlertResolved)

    @router.post('/{alert_id}/snooze', response_model=AlertView, summary="Snooze a detected alert's trigger",
                 responses={**ERRORS, **MALFORMED, **conflict, 422: {
                     **REFUSED[422], 'description': 'Bad input, or not a detected alert of a patient; nothing changed'}
                 })
    async def snooze(request: Request, alert_id: RowId, body: SnoozeIn, actor: Annotated[Actor, Depends(snoozer)],
                     idempotency_key: IdempotencyKey = None) -> Response:
        """Pause re-alerting of a NEWS2 or critical-value alert's trigger for its patient, for 5-240 minutes.

        A clinical decision of a charge nurse, physician or administrator, named in acted_by and recorded in the
        audit trail with the reason. The alert stays visible and open: new occurrences are still counted, an
        unacknowledged alert still escalates, and a worse NEWS2 level breaks through the snooze. A new snooze
        replaces the previous one. Manual, external and heartbeat alerts cannot be snoozed (422); a resolved
        alert is a conflict (409).
        """
        return await act(request, actor, alert_id, idempotency_key, lambda: alerts.snooze(
            actor, alert_id, body.minutes, body.reason, expected_version=body.expected_version,
            on_behalf_of=body.acted_by), AlertSnoozed)

    return router
