"""Closed vocabularies shared by the schema and the core (stored as plain strings)."""

from enum import StrEnum


class Role(StrEnum):
    NURSE = 'nurse'
    CHARGE_NURSE = 'charge_nurse'
    PHYSICIAN = 'physician'
    ADMIN = 'admin'


class Priority(StrEnum):
    CRITICAL = 'critical'
    HIGH = 'high'
    MEDIUM = 'medium'
    LOW = 'low'

    @property
    def rank(self) -> int:
        """Sort key: 0 is the most urgent."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}


class AlertStatus(StrEnum):
    ACTIVE = 'active'
    ACKNOWLEDGED = 'acknowledged'
    RESOLVED = 'resolved'


OPEN_STATUSES = (AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED)


class AlertKind(StrEnum):
    MANUAL = 'manual'
    NEWS2 = 'news2'
    CRITICAL_VALUE = 'critical_value'
    HEARTBEAT = 'heartbeat'
    EXTERNAL = 'external'
    # A patient's next full set of NEWS2 observations is overdue past the hospital's grace period.
    OBSERVATIONS_OVERDUE = 'observations_overdue'


class AlertEventType(StrEnum):
    RAISED = 'raised'
    RETRIGGERED = 'retriggered'
    ACKNOWLEDGED = 'acknowledged'
    RESOLVED = 'resolved'
    ESCALATED = 'escalated'
    # A charge nurse or physician paused re-alerting of this trigger for the patient (never hides the alert).
    SNOOZED = 'snoozed'
    # The condition that raised a latched alert has recovered; the alert stays open until a person resolves it.
    CLEARED = 'cleared'
    # The alert's priority rose (a worse NEWS2 band, an upgraded limit or external alert) after someone had
    # acknowledged or snoozed it: the acknowledgement covered the milder condition, so it is active again.
    REACTIVATED = 'reactivated'
    # The alert's headline was brought up to date with the patient's current state (no re-alarm).
    UPDATED = 'updated'


class TokenKind(StrEnum):
    DEVICE = 'device'
    KIOSK = 'kiosk'
    INTEGRATION = 'integration'


class VitalKind(StrEnum):
    HEART_RATE = 'heart_rate'
    RESP_RATE = 'resp_rate'
    SPO2 = 'spo2'
    SYSTOLIC_BP = 'systolic_bp'
    DIASTOLIC_BP = 'diastolic_bp'
    TEMPERATURE = 'temperature'
    CONSCIOUSNESS = 'consciousness'
    ON_OXYGEN = 'on_oxygen'
