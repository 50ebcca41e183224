"""Alert changes made inside a caller's unit of work: the alert service, detection and the device watchdog share them.

Each step writes its audit entry and queues its event; the caller commits (so detection's alerts commit atomically
with the readings that caused them).
"""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm.exc import StaleDataError

from app.domain import AlertEventType, AlertKind, AlertStatus, Priority
from app.domain.alerts import next_escalation_at
from app.domain.text import check_one_line
from app.errors import StaleVersion
from app.events import AlertCleared, AlertRaised, AlertReactivated, AlertResolved, AlertRetriggered, AlertUpdated
from app.events.models import AlertEventBase
from app.schemas import Actor, AlertView
from app.uow import UnitOfWork
from data.models import Alert, AlertEvent, Patient, Ward

Policy = Mapping[Priority, tuple[int, ...]]


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
        # NOTE: mirrored in SQL by services.alerts.WAITING_SINCE; the anchor is set by raising anew (reactivate).
        waiting_since=alert.escalation_anchor_at or alert.created_at,
    )


def audit(uow: UnitOfWork, alert: Alert, kind: AlertEventType, actor: Actor, from_status: AlertStatus | None,
          at: datetime, note: str | None, name: str | None = None) -> None:
    """Add one line to the alert's audit trail (refusing a name or note with line breaks or control characters)."""
    check_one_line(name, 'The name of who acted')
    check_one_line(note, 'A note')
    uow.session.add(AlertEvent(
        alert_id=alert.id, hospital_id=alert.hospital_id, type=kind, at=at, actor=name or actor.name,
        actor_user_id=actor.user_id, from_status=from_status, to_status=alert.status,
        escalation_level=alert.escalation_level, note=note,
    ))


async def publish(uow: UnitOfWork, event_type: type[AlertEventBase], alert: Alert, actor: Actor, now: datetime,
                  name: str | None = None) -> AlertView:
    """Flush the alert (checking its version) and queue the event carrying its new snapshot."""
    alert_id = alert.id  # read before flushing: a failed flush expires the object
    try:
        await uow.session.flush()
    except StaleDataError as error:
        raise StaleVersion(f'Alert {alert_id} was changed by someone else at the same moment; '
                           'reload and try again.') from error
    view = alert_view(alert)
    uow.emit(event_type(hospital_id=alert.hospital_id, ward_id=alert.ward_id, occurred_at=now,
                        actor=name or actor.name, alert=view))
    return view


def schedule_escalation(alert: Alert, policy: Policy) -> datetime | None:
    """Return when an alert escalates next: only active alerts do, along the ladder that started at its anchor.

    The ladder starts when the alert is raised, and again when a re-alarm (its priority rose) anchors it anew at
    the escalation level it had then: escalation never goes down, and the new priority's steps run from the start.
    """
    if alert.status != AlertStatus.ACTIVE:
        return None
    anchor = alert.escalation_anchor_at or alert.created_at
    return next_escalation_at(Priority(alert.priority), anchor, alert.escalation_level - alert.escalation_anchor_level,
                              policy)


async def open_alert(uow: UnitOfWork, actor: Actor, *, ward: Ward, patient: Patient | None, kind: AlertKind,
                     priority: Priority, message: str, dedup_key: str | None, now: datetime,
                     policy: Policy, condition: str | None = None) -> tuple[Alert, AlertView]:
    """Insert a new active alert with its first escalation time, audit it and queue AlertRaised."""
    alert = Alert(
        hospital_id=ward.hospital_id, ward_id=ward.id, patient_id=patient.id if patient else None, kind=kind,
        priority=priority, status=AlertStatus.ACTIVE, message=message, dedup_key=dedup_key, occurrences=1,
        escalation_level=0, next_escalation_at=next_escalation_at(priority, now, 0, policy), created_at=now,
        created_by=actor.name, last_triggered_at=now, condition=condition, escalation_anchor_level=0,
    )
    alert.ward, alert.patient = ward, patient
    uow.session.add(alert)
    await uow.session.flush()
    audit(uow, alert, AlertEventType.RAISED, actor, None, now, message)
    return alert, await publish(uow, AlertRaised, alert, actor, now)


async def retrigger(uow: UnitOfWork, actor: Actor, alert: Alert, now: datetime, policy: Policy, *,
                    priority: Priority, message: str | None = None, suppressed: str | None = None,
                    condition: str | None = None, rise: str | None = None) -> AlertView:
    """Count one more occurrence of an open alert; a higher priority re-alarms it (see reactivate).

    `suppressed` says why the occurrence does not re-alert anybody (a snooze): then the priority stays as it is.
    `rise` says what rose, for the audit trail (e.g. "NEWS2 5 → 7"); `condition` is what the new headline describes.
    """
    alert.occurrences += 1
    alert.last_triggered_at = now
    alert.cleared_at = None
    if condition is not None:
        alert.condition = condition
    changed = message is not None and message != alert.message
    if changed:
        alert.message = message  # type: ignore[assignment]  # checked just above
    if suppressed is None and priority.rank < Priority(alert.priority).rank:
        return await reactivate(uow, actor, alert, now, policy, priority, rise or f'raised again at {priority}')
    note = f'occurrence {alert.occurrences}' + (f': {message}' if changed else '')
    if suppressed is not None:
        note += f'; {suppressed}'
    audit(uow, alert, AlertEventType.RETRIGGERED, actor, AlertStatus(alert.status), now, note)
    return await publish(uow, AlertRetriggered, alert, actor, now)


async def reactivate(uow: UnitOfWork, actor: Actor, alert: Alert, now: datetime, policy: Policy, priority: Priority,
                     rise: str) -> AlertView:
    """Re-alarm an open alert whose priority rose: a worse condition is a new alarm (CLINICAL.md, Alarms).

    An acknowledgement covered the milder condition, so the alert is active (unacknowledged) again and counts as
    waiting; a snooze of the milder level ends; the escalation ladder restarts at the new priority from now, at the
    level already reached; the audit trail says what rose and whose acknowledgement it superseded. Every screen in
    scope announces it again (AlertReactivated).
    """
    previous = AlertStatus(alert.status)
    note = f'{rise}: priority {alert.priority} → {priority}'
    if previous is AlertStatus.ACKNOWLEDGED and alert.acknowledged_at is not None:
        note += (f'; acknowledgement by {alert.acknowledged_by} at {alert.acknowledged_at:%H:%M} UTC superseded, '
                 'the alert is waiting again')
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        note += f'; snooze until {alert.snoozed_until:%H:%M} UTC ended'
    alert.snoozed_until = None
    alert.priority = priority
    alert.status = AlertStatus.ACTIVE
    alert.acknowledged_at = alert.acknowledged_by = None
    # Nobody answered an alert that was still active: the worse condition never waits longer than the ladder it was
    # already on would have made it wait at the new priority.
    already_due = schedule_escalation(alert, policy) if previous is AlertStatus.ACTIVE else None
    alert.escalation_anchor_at, alert.escalation_anchor_level = now, alert.escalation_level
    restarted = schedule_escalation(alert, policy)
    alert.next_escalation_at = min((t for t in (already_due, restarted) if t is not None), default=None)
    audit(uow, alert, AlertEventType.REACTIVATED, actor, previous, now, note)
    return await publish(uow, AlertReactivated, alert, actor, now)


async def update_headline(uow: UnitOfWork, actor: Actor, alert: Alert, now: datetime, message: str,
                          condition: str, note: str) -> AlertView:
    """Bring an open alert's headline up to the patient's current state (no occurrence, no re-alarm)."""
    alert.message = message
    alert.condition = condition
    audit(uow, alert, AlertEventType.UPDATED, actor, AlertStatus(alert.status), now, note)
    return await publish(uow, AlertUpdated, alert, actor, now)


async def clear(uow: UnitOfWork, actor: Actor, alert: Alert, now: datetime, note: str, *,
                message: str | None = None, condition: str | None = None) -> AlertView:
    """Mark a latched alert's condition as recovered; the alert stays open until a person resolves it.

    `message` is the headline of the recovered state (detection's NEWS2), so the alert never shows an old score.
    """
    if message is not None:
        alert.message, alert.condition = message, condition
    alert.cleared_at = now
    audit(uow, alert, AlertEventType.CLEARED, actor, AlertStatus(alert.status), now, note)
    return await publish(uow, AlertCleared, alert, actor, now)


async def resolve_by_system(uow: UnitOfWork, actor: Actor, alert: Alert, now: datetime, note: str, *,
                            message: str | None = None, condition: str | None = None) -> AlertView:
    """Resolve an alert whose condition recovered, where the hospital does not latch alarms."""
    if message is not None:
        alert.message, alert.condition = message, condition
    previous = AlertStatus(alert.status)
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at, alert.resolved_by = now, actor.name
    alert.cleared_at = now
    alert.next_escalation_at = None
    audit(uow, alert, AlertEventType.RESOLVED, actor, previous, now, note)
    return await publish(uow, AlertResolved, alert, actor, now)
