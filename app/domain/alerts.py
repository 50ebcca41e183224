"""Alert rules: legal transitions and when an unanswered alert escalates (who sees which: domain.scope)."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from app.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, NotAllowed
from data.enums import AlertStatus, Priority, TokenKind

from ..schemas import Actor, AlertView

# Minutes after an alert was raised at which it escalates one level if still unacknowledged.
DEFAULT_ESCALATION_MINUTES: Mapping[Priority, tuple[int, ...]] = {
    Priority.CRITICAL: (2, 5),
    Priority.HIGH: (5, 15),
    Priority.MEDIUM: (15,),
    Priority.LOW: (),
}


def is_waiting(status: AlertStatus, priority: Priority, escalation_level: int) -> bool:
    """Tell whether an alert waits for someone: unacknowledged and critical, high or escalated.

    The one definition behind the "waiting" tile, the count in the tab title and favicon, and the alarm sound's
    default scope; services.alerts.waiting_clause is its SQL mirror.
    """
    return status is AlertStatus.ACTIVE and (priority in (Priority.CRITICAL, Priority.HIGH) or escalation_level > 0)


AttentionKey = tuple[int, int, int, float, int]


def attention_key(status: AlertStatus, priority: Priority, escalation_level: int, waiting_since: datetime,
                  alert_id: int) -> AttentionKey:
    """The one "needs attention" order (ascending): unacknowledged first, then priority, then escalation level
    (highest first), then longest waiting (earliest first); the id makes it total.

    An alert waits since it last became an alarm: when it was raised, or re-alarmed at a higher priority (a worse
    condition is a new alarm, CLINICAL.md), so a re-alarm counts from then. The dashboard's Alert List, the kiosk and
    GET /api/v1/alerts sort by it; the last one through its SQL mirror, services.alerts.ATTENTION_ORDER.
    """
    return (0 if status is AlertStatus.ACTIVE else 1, priority.rank, -escalation_level, waiting_since.timestamp(),
            alert_id)


def attention_key_of(alert: AlertView) -> AttentionKey:
    """Return an alert view's place in the needs-attention order (see attention_key)."""
    return attention_key(alert.status, alert.priority, alert.escalation_level, alert.waiting_since, alert.id)


def check_can_acknowledge(alert_id: int, status: AlertStatus) -> None:
    """Refuse acknowledging anything but an active alert."""
    if status is AlertStatus.ACKNOWLEDGED:
        raise AlertAlreadyAcknowledged(f'Alert {alert_id} is already acknowledged.')
    if status is AlertStatus.RESOLVED:
        raise AlertAlreadyResolved(f'Alert {alert_id} is already resolved and cannot be acknowledged.')


def check_can_resolve(alert_id: int, status: AlertStatus) -> None:
    """Refuse resolving an alert twice."""
    if status is AlertStatus.RESOLVED:
        raise AlertAlreadyResolved(f'Alert {alert_id} is already resolved.')


def check_can_escalate(alert_id: int, status: AlertStatus) -> None:
    """Refuse escalating a resolved alert."""
    if status is AlertStatus.RESOLVED:
        raise AlertAlreadyResolved(f'Alert {alert_id} is already resolved and cannot be escalated.')


def next_escalation_at(priority: Priority, created_at: datetime, level: int,
                       policy: Mapping[Priority, tuple[int, ...]] = DEFAULT_ESCALATION_MINUTES) -> datetime | None:
    """Return when an alert at this escalation level escalates next (None when the policy has no further step)."""
    steps = policy[priority]
    return created_at + timedelta(minutes=steps[level]) if level < len(steps) else None


def check_can_raise(actor: Actor) -> None:
    """Refuse raising alerts from kiosk displays."""
    if actor.kind == 'token' and actor.token_kind is TokenKind.KIOSK:
        raise NotAllowed('A kiosk display is read-only and cannot raise alerts.')


def check_can_respond(actor: Actor) -> None:
    """Only staff and integrations acknowledge, resolve or escalate; devices and kiosks cannot."""
    if actor.kind == 'token' and actor.token_kind is not TokenKind.INTEGRATION:
        raise NotAllowed(f'A {actor.token_kind} token cannot acknowledge, resolve or escalate alerts.')
