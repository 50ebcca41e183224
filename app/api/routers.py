"""The device and integration API: every router, wired to one Vigil (main.py includes them in NiceGUI's app)."""

from collections.abc import Callable

from fastapi import APIRouter

from app.bootstrap import Vigil
from app.domain import TokenKind
from app.services.directory import DirectoryService
from app.services.event_log import EventLogService
from app.services.idempotency import IdempotencyService
from app.services.observation_records import ObservationRecords

from .alerts import alerts_router
from .auth import authenticator, permitting
from .events import events_router
from .fhir import fhir_router
from .patients import patients_router
from .rules import rules_router
from .vitals import vitals_router
from .webhooks import webhooks_router

EVERY_KIND = tuple(TokenKind)
WRITERS = (TokenKind.DEVICE, TokenKind.INTEGRATION)


def never() -> bool:
    return False


def api_routers(vigil: Vigil, *, stopping: Callable[[], bool] = never) -> list[APIRouter]:
    """Return the routers of /api/v1 and /api/fhir/r4; open event streams end once stopping() is true."""
    authenticate = authenticator(vigil.tokens)
    reader = permitting(authenticate, EVERY_KIND, 'read')
    writer = permitting(authenticate, WRITERS, 'record vitals')
    raiser = permitting(authenticate, WRITERS, 'raise alerts')
    responder = permitting(authenticate, (TokenKind.INTEGRATION,), 'acknowledge or resolve alerts')
    snoozer = permitting(authenticate, (TokenKind.INTEGRATION,), 'snooze alerts')
    configurer = permitting(authenticate, (TokenKind.INTEGRATION,), 'change alarm rules')
    prescriber = permitting(authenticate, (TokenKind.INTEGRATION,), "prescribe a patient's SpO2 scale")
    webhook_manager = permitting(authenticate, (TokenKind.INTEGRATION,), 'manage webhooks')
    directory = DirectoryService(vigil.db, vigil.clock)
    idempotency = IdempotencyService(vigil.db, vigil.clock)
    return [
        vitals_router(vigil.patients, directory, idempotency, writer, vigil.clock),
        alerts_router(vigil.alerts, directory, idempotency, reader, raiser, responder, snoozer),
        patients_router(vigil.patients, vigil.prescriptions, directory, vigil.patient_history, reader, prescriber),
        rules_router(vigil.rules, reader, configurer),
        events_router(EventLogService(vigil.db, vigil.clock), vigil.bus, reader, vigil.tokens, stopping),
        fhir_router(vigil.patients, ObservationRecords(vigil.db, vigil.clock), idempotency, reader, writer,
                    vigil.clock),
        webhooks_router(vigil.webhooks, webhook_manager),
    ]
