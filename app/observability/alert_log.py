"""One log line per alert transition, written by the process that committed it (so once across processes).

Lines carry ids, kinds and priorities, never the alert's message or a patient's name: logs travel to places the
clinical record does not.
"""

import logging

from app.events import BaseEvent
from app.events.models import AlertEventBase

log = logging.getLogger('vigil.alerts')

TAGS = {
    'AlertRaised': 'alert.raised',
    'AlertRetriggered': 'alert.retriggered',
    'AlertAcknowledged': 'alert.acknowledged',
    'AlertResolved': 'alert.resolved',
    'AlertEscalated': 'alert.escalated',
    'AlertSnoozed': 'alert.snoozed',
    'AlertCleared': 'alert.cleared',
    'AlertReactivated': 'alert.reactivated',
    'AlertUpdated': 'alert.updated',
}


def log_alert_transition(event: BaseEvent) -> None:
    """Log an alert event this process published, tagged for operators to grep."""
    if not isinstance(event, AlertEventBase):
        return
    tag = TAGS.get(type(event).__name__)
    if tag is None:
        return
    alert = event.alert
    log.info('alert %d %s: %s %s, level %d, by %s', alert.id, tag.split('.', 1)[1], alert.priority.value,
             alert.kind.value, alert.escalation_level, event.actor,
             extra={'event': tag, 'alert_id': alert.id, 'hospital_id': event.hospital_id, 'ward_id': event.ward_id,
                    'patient_id': alert.patient_id, 'priority': alert.priority.value, 'kind': alert.kind.value,
                    'status': alert.status.value, 'escalation_level': alert.escalation_level, 'seq': event.seq,
                    'actor': event.actor})
