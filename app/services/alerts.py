"""Alert use cases: raise (with de-duplication), acknowledge, resolve, escalate, list, audit trail."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, case, false, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.clock import Clock
from app.domain import OPEN_STATUSES, AlertEventType, AlertStatus, Priority, Role
from app.domain.alerts import (
    DEFAULT_ESCALATION_MINUTES,
    can_see,
    check_can_acknowledge,
    check_can_escalate,
    check_can_raise,
    check_can_resolve,
    check_can_respond,
    next_escalation_at,
)
from app.errors import AlertNotFound, InvalidInput, NotAllowed, StaleVersion
from app.events import AlertAcknowledged, AlertEscalated, AlertRaised, AlertResolved, AlertRetriggered
from app.events.models import AlertEventBase
from app.schemas import Actor, AlertFilter, AlertView, AuditEntryView, NewAlert
from app.uow import Database, UnitOfWork
from data.models import Alert, AlertEvent
from data.queries import alerts_with_context, claim_due_alert, due_alert_ids

from .common import patient_in, require_hospital, ward_in

PRIORITY_ORDER = case({p.value: p.rank for p in Priority}, value=Alert.priority)


def alert_view(alert: Alert) -> AlertView:
    """Build the view of an alert whose ward and patient are loaded."""
    patient = alert.patient
    return AlertView(
        id=alert.id, hospital_id=alert.hospital_id, ward_id=alert.ward_id, ward_name=alert.ward.name,
        patient_id=alert.patient_id, patient_name=patient.name if patient else None,
        patient_mrn=patient.mrn if patient else None, bed=patient.bed if patient else None,
        kind=alert.kind, priority=alert.priority, status=alert.status, message=alert.message,
        dedup_key=alert.dedup_key, occurrences=alert.occurrences, escalation_level=alert.escalation_level,
        next_escalation_at=alert.next_escalation_at, created_at=alert.created_at, created_by=alert.created_by,
        last_triggered_at=alert.last_triggered_at, acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by, resolved_at=alert.resolved_at, resolved_by=alert.resolved_by,
        version=alert.version, cleared_at=alert.cleared_at, snoozed_until=alert.snoozed_until,
    )


def scope_clause(actor: Actor) -> ColumnElement[bool]:
    """SQL mirror of domain.alerts.can_see for list queries (the hospital is filtered separately)."""
    if actor.kind != 'user':
        return true()
    escalated = Alert.escalation_level > 0
    in_wards = Alert.ward_id.in_(actor.ward_ids) if actor.ward_ids else false()
    match actor.role:
        case Role.ADMIN:
            return true()
        case Role.PHYSICIAN:
            return or_(Alert.priority.in_([Priority.CRITICAL, Priority.HIGH]), escalated)
        case Role.CHARGE_NURSE:
            return or_(in_wards, escalated)
        case Role.NURSE:
            return in_wards
    return false()


def acting_name(actor: Actor, on_behalf_of: str | None) -> str:
    """Name recorded in the audit trail; integrations must say which person acted."""
    if actor.kind == 'token':
        person = (on_behalf_of or '').strip()
        if not person:
            raise InvalidInput('An integration must name the person who acted (on_behalf_of).')
        return f'{person} (via {actor.name})'[:200]
    return actor.name


class AlertService:
    def __init__(self, db: Database, clock: Clock,
                 policy: Mapping[Priority, tuple[int, ...]] = DEFAULT_ESCALATION_MINUTES) -> None:
        self._db = db
        self._clock = clock
        self._policy = policy

    async def raise_alert(self, actor: Actor, request: NewAlert) -> AlertView:
        """Raise an alert, or count one more occurrence of the open alert with the same dedup key."""
        check_can_raise(actor)
        hospital_id = require_hospital(actor)
        try:
            return await self._raise(actor, hospital_id, request)
        except IntegrityError:
            if request.dedup_key is None:
                raise
            # A concurrent writer opened the same dedup key between our check and our insert: count on it.
            return await self._raise(actor, hospital_id, request)

    async def _raise(self, actor: Actor, hospital_id: int, request: NewAlert) -> AlertView:
        async with self._db.uow() as uow:
            session = uow.session
            patient = None
            if request.patient_id is not None:
                patient = await patient_in(session, hospital_id, request.patient_id)
                if request.ward_id is not None and request.ward_id != patient.ward_id:
                    raise InvalidInput(f'Patient {patient.id} is not on ward {request.ward_id}.')
                ward = await ward_in(session, hospital_id, patient.ward_id)
            elif request.ward_id is not None:
                ward = await ward_in(session, hospital_id, request.ward_id)
            else:
                raise InvalidInput('An alert needs a patient or a ward.')
            now = self._clock()
            if request.dedup_key is not None:
                existing = await session.scalar(
                    alerts_with_context()
                    .where(Alert.hospital_id == hospital_id, Alert.dedup_key == request.dedup_key,
                           Alert.status.in_(OPEN_STATUSES))
                    .with_for_update(of=Alert))  # concurrent retriggers queue here instead of clashing
                if existing is not None:
                    return await self._retrigger(uow, actor, existing, request, now)
            alert = Alert(
                hospital_id=hospital_id, ward_id=ward.id, patient_id=patient.id if patient else None,
                kind=request.kind, priority=request.priority, status=AlertStatus.ACTIVE, message=request.message,
                dedup_key=request.dedup_key, occurrences=1, escalation_level=0,
                next_escalation_at=next_escalation_at(request.priority, now, 0, self._policy),
                created_at=now, created_by=actor.name, last_triggered_at=now,
            )
            alert.ward, alert.patient = ward, patient
            session.add(alert)
            await session.flush()
            self._audit(uow, alert, AlertEventType.RAISED, actor, None, now, request.message)
            return await self._finish(uow, AlertRaised, alert, actor, now)

    async def _retrigger(self, uow: UnitOfWork, actor: Actor, alert: Alert, request: NewAlert,
                         now: datetime) -> AlertView:
        alert.occurrences += 1
        alert.last_triggered_at = now
        note = f'occurrence {alert.occurrences}'
        if Priority(request.priority).rank < Priority(alert.priority).rank:
            note += f'; priority raised from {alert.priority} to {request.priority}'
            alert.priority = request.priority
            if alert.status == AlertStatus.ACTIVE:
                alert.next_escalation_at = next_escalation_at(
                    Priority(alert.priority), alert.created_at, alert.escalation_level, self._policy)
        self._audit(uow, alert, AlertEventType.RETRIGGERED, actor, AlertStatus(alert.status), now, note)
        return await self._finish(uow, AlertRetriggered, alert, actor, now)

    async def acknowledge(self, actor: Actor, alert_id: int, *, expected_version: int | None = None,
                          note: str | None = None, on_behalf_of: str | None = None) -> AlertView:
        """Acknowledge an active alert: someone is on it, so it stops escalating."""
        check_can_respond(actor)
        name = acting_name(actor, on_behalf_of)
        async with self._db.uow() as uow:
            alert = await self._load(uow.session, actor, alert_id)
            check_can_acknowledge(alert.id, AlertStatus(alert.status))
            self._check_version(alert, expected_version)
            now = self._clock()
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_at, alert.acknowledged_by = now, name
            alert.next_escalation_at = None
            self._audit(uow, alert, AlertEventType.ACKNOWLEDGED, actor, AlertStatus.ACTIVE, now, note, name)
            return await self._finish(uow, AlertAcknowledged, alert, actor, now, name)

    async def resolve(self, actor: Actor, alert_id: int, *, expected_version: int | None = None,
                      note: str | None = None, on_behalf_of: str | None = None) -> AlertView:
        """Resolve an open alert (acknowledged or not)."""
        check_can_respond(actor)
        name = acting_name(actor, on_behalf_of)
        async with self._db.uow() as uow:
            alert = await self._load(uow.session, actor, alert_id)
            previous = AlertStatus(alert.status)
            check_can_resolve(alert.id, previous)
            self._check_version(alert, expected_version)
            now = self._clock()
            alert.status = AlertStatus.RESOLVED
            alert.resolved_at, alert.resolved_by = now, name
            alert.next_escalation_at = None
            self._audit(uow, alert, AlertEventType.RESOLVED, actor, previous, now, note, name)
            return await self._finish(uow, AlertResolved, alert, actor, now, name)

    async def escalate(self, actor: Actor, alert_id: int, *, expected_version: int | None = None,
                       note: str | None = None, on_behalf_of: str | None = None) -> AlertView:
        """Escalate an open alert one level by hand (the escalation clock does it on its own via escalate_due)."""
        check_can_respond(actor)
        name = acting_name(actor, on_behalf_of)
        async with self._db.uow() as uow:
            alert = await self._load(uow.session, actor, alert_id)
            check_can_escalate(alert.id, AlertStatus(alert.status))
            self._check_version(alert, expected_version)
            return await self._escalate(uow, alert, actor, self._clock(), note or 'escalated by hand', name)

    async def escalate_due(self, now: datetime | None = None, limit: int = 200) -> list[AlertView]:
        """Escalate every active alert whose escalation time has come; each alert is claimed exactly once."""
        now = now or self._clock()
        async with self._db.read() as session:
            due = await due_alert_ids(session, now, limit)
        escalated = []
        for alert_id in due:
            async with self._db.uow() as uow:
                alert = await claim_due_alert(uow.session, alert_id, now)
                if alert is None:
                    continue
                minutes = (alert.next_escalation_at - alert.created_at).total_seconds() / 60  # type: ignore[operator]
                system = Actor.system('escalation')
                try:
                    escalated.append(await self._escalate(
                        uow, alert, system, now, f'not acknowledged within {minutes:g} min', system.name))
                except StaleVersion:
                    continue  # another process claimed it first
        return escalated

    async def _escalate(self, uow: UnitOfWork, alert: Alert, actor: Actor, now: datetime, note: str,
                        name: str) -> AlertView:
        alert.escalation_level += 1
        alert.next_escalation_at = (next_escalation_at(Priority(alert.priority), alert.created_at,
                                                       alert.escalation_level, self._policy)
                                    if alert.status == AlertStatus.ACTIVE else None)
        self._audit(uow, alert, AlertEventType.ESCALATED, actor, AlertStatus(alert.status), now, note, name)
        return await self._finish(uow, AlertEscalated, alert, actor, now, name)

    async def get(self, actor: Actor, alert_id: int) -> AlertView:
        """Return one alert in the actor's scope."""
        async with self._db.read() as session:
            return alert_view(await self._load(session, actor, alert_id))

    async def list_alerts(self, actor: Actor, query: AlertFilter | None = None) -> list[AlertView]:
        """Return the alerts in the actor's scope, most urgent and newest first."""
        query = query or AlertFilter()
        hospital_id = require_hospital(actor)
        statement = (
            alerts_with_context().where(Alert.hospital_id == hospital_id, scope_clause(actor))
            .order_by(PRIORITY_ORDER, Alert.created_at.desc(), Alert.id.desc()).limit(query.limit)
        )
        if query.statuses:
            statement = statement.where(Alert.status.in_(query.statuses))
        if query.priorities:
            statement = statement.where(Alert.priority.in_(query.priorities))
        if query.ward_id is not None:
            statement = statement.where(Alert.ward_id == query.ward_id)
        if query.patient_id is not None:
            statement = statement.where(Alert.patient_id == query.patient_id)
        async with self._db.read() as session:
            return [alert_view(a) for a in (await session.scalars(statement)).unique()]

    async def audit_trail(self, actor: Actor, alert_id: int) -> list[AuditEntryView]:
        """Return every recorded step of one alert, oldest first."""
        async with self._db.read() as session:
            await self._load(session, actor, alert_id)
            rows = await session.scalars(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id))
            return [AuditEntryView.model_validate(row) for row in rows]

    async def _load(self, session: AsyncSession, actor: Actor, alert_id: int) -> Alert:
        alert = await session.scalar(alerts_with_context().where(Alert.id == alert_id))
        if alert is None or (actor.kind != 'system' and alert.hospital_id != actor.hospital_id):
            raise AlertNotFound(f'Alert {alert_id} not found.')
        if not can_see(actor, alert.hospital_id, alert.ward_id, Priority(alert.priority), alert.escalation_level):
            raise NotAllowed(f'Alert {alert_id} is outside your wards and role.')
        return alert

    @staticmethod
    def _check_version(alert: Alert, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != alert.version:
            raise StaleVersion(f'Alert {alert.id} was changed by someone else since you loaded it; '
                               'reload and try again.')

    @staticmethod
    def _audit(uow: UnitOfWork, alert: Alert, kind: AlertEventType, actor: Actor, from_status: AlertStatus | None,
               at: datetime, note: str | None, name: str | None = None) -> None:
        uow.session.add(AlertEvent(
            alert_id=alert.id, hospital_id=alert.hospital_id, type=kind, at=at, actor=name or actor.name,
            actor_user_id=actor.user_id, from_status=from_status, to_status=alert.status,
            escalation_level=alert.escalation_level, note=note,
        ))

    async def _finish(self, uow: UnitOfWork, event_type: type[AlertEventBase], alert: Alert, actor: Actor,
                      now: datetime, name: str | None = None) -> AlertView:
        alert_id = alert.id  # read before flushing: a failed flush expires the object
        try:
            await uow.session.flush()
        except StaleDataError as error:
            raise StaleVersion(f'Alert {alert_id} was changed by someone else at the same moment; '
                               'reload and try again.') from error
        view = alert_view(alert)
        uow.emit(event_type(hospital_id=alert.hospital_id, ward_id=alert.ward_id, occurred_at=now,
                            actor=name or actor.name, alert=view))
        await uow.commit()
        return view
