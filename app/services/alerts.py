"""Alert use cases: raise (with de-duplication), acknowledge, resolve, escalate, snooze, list, audit trail."""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import OPEN_STATUSES, AlertEventType, AlertKind, AlertStatus, Priority, Role, TokenKind
from app.domain.alerts import (
    check_can_acknowledge,
    check_can_escalate,
    check_can_raise,
    check_can_resolve,
    check_can_respond,
)
from app.domain.limits import trigger_of
from app.domain.scope import AccessScope
from app.domain.text import check_one_line
from app.errors import AlertAlreadyResolved, AlertNotFound, InvalidInput, NotAllowed, StaleVersion
from app.events import AlertAcknowledged, AlertEscalated, AlertResolved, AlertSnoozed
from app.events.models import AlertEventBase
from app.schemas import Actor, AlertFilter, AlertView, AuditEntryView, NewAlert
from app.uow import Database, UnitOfWork
from data.models import Alert, AlertEvent, Snooze
from data.queries import alerts_with_context, claim_due_alert, due_alert_ids

# NOTE: alert_view is re-exported: other services build alert views through this module.
from .alert_writes import alert_view as alert_view
from .alert_writes import audit, open_alert, publish, retrigger, schedule_escalation
from .common import acting_name, patient_in, require_hospital, ward_in
from .rules import RulesService
from .scope_sql import alerts_in

PRIORITY_ORDER = case({p.value: p.rank for p in Priority}, value=Alert.priority)
# NOTE: SQL mirrors of domain.alerts (alert_writes.alert_view fills AlertView.waiting_since the same way); a test
# holds them to agree with the Python key on SQLite and PostgreSQL.
WAITING_SINCE = func.coalesce(Alert.escalation_anchor_at, Alert.created_at)
ATTENTION_ORDER = (case((Alert.status == AlertStatus.ACTIVE, 0), else_=1), PRIORITY_ORDER,
                   Alert.escalation_level.desc(), WAITING_SINCE, Alert.id)
NEWEST_ORDER = (Alert.created_at.desc(), Alert.id.desc())
SNOOZE_MINUTES = (5, 240)  # long enough to treat the cause, short enough that nobody forgets the patient
SNOOZABLE_KINDS = (AlertKind.NEWS2, AlertKind.CRITICAL_VALUE)
SNOOZING_ROLES = (Role.CHARGE_NURSE, Role.PHYSICIAN, Role.ADMIN)


def waiting_clause() -> ColumnElement[bool]:
    """SQL mirror of domain.alerts.is_waiting: unacknowledged and critical, high or escalated."""
    return and_(Alert.status == AlertStatus.ACTIVE,
                or_(Alert.priority.in_([Priority.CRITICAL, Priority.HIGH]), Alert.escalation_level > 0))


class AlertService:
    def __init__(self, db: Database, clock: Clock, rules: RulesService | None = None) -> None:
        self._db = db
        self._clock = clock
        # NOTE: share one RulesService per process (bootstrap does), so a changed policy applies at once.
        self._rules = rules or RulesService(db, clock)

    async def raise_alert(self, actor: Actor, request: NewAlert) -> AlertView:
        """Raise an alert, or count one more occurrence of the open alert with this dedup key and patient (or ward).

        A ward alert (no patient) matches only an open ward alert of the same ward, never a patient alert there; the
        same key for another patient or ward raises that one's own alert.
        """
        check_can_raise(actor)
        hospital_id = require_hospital(actor)
        check_one_line(request.message, 'The message')
        try:
            return await self._raise(actor, hospital_id, request)
        except IntegrityError:
            if request.dedup_key is None:
                raise
            # A concurrent writer opened the same dedup key for the same patient (or ward) between our check and
            # our insert: count on it.
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
            existing = None
            if request.dedup_key is not None:
                # NOTE: mirrors the unique indexes uq_alerts_open_dedup_patient / _ward in data/models.py. A patient
                # alert matches that patient's open alert only; a ward alert matches that ward's open ward alert
                # only (never a patient alert of the ward): the same key elsewhere is another alert.
                owner = (Alert.patient_id == patient.id if patient is not None
                         else and_(Alert.ward_id == ward.id, Alert.patient_id.is_(None)))
                existing = await session.scalar(
                    alerts_with_context()
                    .where(Alert.hospital_id == hospital_id, owner, Alert.dedup_key == request.dedup_key,
                           Alert.status.in_(OPEN_STATUSES))
                    .with_for_update(of=Alert))  # concurrent retriggers queue here instead of clashing
            policy = (await self._rules.rules(hospital_id, session)).escalation
            if existing is not None:
                view = await retrigger(uow, actor, existing, now, policy, priority=request.priority)
            else:
                _, view = await open_alert(uow, actor, ward=ward, patient=patient, kind=request.kind,
                                           priority=request.priority, message=request.message,
                                           dedup_key=request.dedup_key, now=now, policy=policy)
            await uow.commit()
            return view

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

    async def snooze(self, actor: Actor, alert_id: int, minutes: int, reason: str, *,
                     expected_version: int | None = None, on_behalf_of: str | None = None) -> AlertView:
        """Pause re-alerting of a detected alert's trigger for its patient; the alert itself stays visible.

        Only charge nurses, physicians and admins snooze, for 5-240 minutes, with a reason for the audit trail;
        an integration snoozes on behalf of such a person, whom it must name (it vouches for their role, as it does
        for who acknowledges). A new snooze replaces the previous one of the same trigger. Acknowledging remains
        separate: a snoozed alert that nobody acknowledged still escalates.
        """
        integration = actor.kind == 'token' and actor.token_kind is TokenKind.INTEGRATION
        if not integration and (actor.kind != 'user' or actor.role not in SNOOZING_ROLES):
            raise NotAllowed('Only a charge nurse, a physician or an administrator can snooze an alert '
                             '(or an integration on behalf of one).')
        name = acting_name(actor, on_behalf_of)
        low, high = SNOOZE_MINUTES
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not low <= minutes <= high:
            raise InvalidInput(f'A snooze lasts {low}-{high} whole minutes, not {minutes!r}.')
        reason = (reason or '').strip()
        if not 1 <= len(reason) <= 500:
            raise InvalidInput('A snooze needs a reason (1-500 characters) for the audit trail.')
        check_one_line(reason, 'The reason')
        async with self._db.uow() as uow:
            alert = await self._load(uow.session, actor, alert_id)
            if alert.status == AlertStatus.RESOLVED:
                raise AlertAlreadyResolved(f'Alert {alert.id} is already resolved and cannot be snoozed.')
            trigger = trigger_of(alert.dedup_key, alert.patient_id)
            if alert.kind not in SNOOZABLE_KINDS or trigger is None or alert.patient_id is None:
                raise InvalidInput(f'Alert {alert.id} is not a NEWS2 or critical-value alert of a patient; only '
                                   'those can be snoozed.')
            self._check_version(alert, expected_version)
            now = self._clock()
            until = now + timedelta(minutes=minutes)
            await uow.session.execute(  # a new snooze ends the previous one of this trigger
                update(Snooze).where(Snooze.patient_id == alert.patient_id, Snooze.trigger == trigger,
                                     Snooze.until > now)
                .values(until=now).execution_options(synchronize_session=False))
            uow.session.add(Snooze(hospital_id=alert.hospital_id, patient_id=alert.patient_id, trigger=trigger,
                                   until=until, created_at=now, created_by=name, reason=reason))
            alert.snoozed_until = until
            note = f'snoozed for {minutes} min, until {until:%H:%M} UTC: {reason}'
            self._audit(uow, alert, AlertEventType.SNOOZED, actor, AlertStatus(alert.status), now, note, name)
            return await self._finish(uow, AlertSnoozed, alert, actor, now, name)

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
                anchor = alert.escalation_anchor_at or alert.created_at
                minutes = (alert.next_escalation_at - anchor).total_seconds() / 60  # type: ignore[operator]
                system = Actor.system('escalation')
                try:
                    escalated.append(await self._escalate(
                        uow, alert, system, now, f'not acknowledged within {minutes:g} min', system.name))
                except StaleVersion:
                    continue  # another process claimed it first
        return escalated

    async def _escalate(self, uow: UnitOfWork, alert: Alert, actor: Actor, now: datetime, note: str,
                        name: str) -> AlertView:
        policy = (await self._rules.rules(alert.hospital_id, uow.session)).escalation
        alert.escalation_level += 1
        alert.next_escalation_at = schedule_escalation(alert, policy)
        self._audit(uow, alert, AlertEventType.ESCALATED, actor, AlertStatus(alert.status), now, note, name)
        return await self._finish(uow, AlertEscalated, alert, actor, now, name)

    async def get(self, actor: Actor, alert_id: int) -> AlertView:
        """Return one alert in the actor's scope."""
        async with self._db.read() as session:
            return alert_view(await self._load(session, actor, alert_id))

    async def list_alerts(self, actor: Actor, query: AlertFilter | None = None) -> list[AlertView]:
        """Return the alerts in the actor's scope in the needs-attention order (or newest first, if asked)."""
        query = query or AlertFilter()
        require_hospital(actor)
        statement = (
            alerts_with_context().where(alerts_in(AccessScope.of(actor)))
            .order_by(*(ATTENTION_ORDER if query.sort == 'attention' else NEWEST_ORDER)).limit(query.limit)
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
        scope = AccessScope.of(actor)
        if alert is None or not scope.sees_hospital(alert.hospital_id):
            raise AlertNotFound(f'Alert {alert_id} not found.')
        if not scope.sees_alert(alert.hospital_id, alert.ward_id, Priority(alert.priority), alert.escalation_level):
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
        audit(uow, alert, kind, actor, from_status, at, note, name)

    @staticmethod
    async def _finish(uow: UnitOfWork, event_type: type[AlertEventBase], alert: Alert, actor: Actor,
                      now: datetime, name: str | None = None) -> AlertView:
        view = await publish(uow, event_type, alert, actor, now, name)
        await uow.commit()
        return view
