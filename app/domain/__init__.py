"""Framework-free domain rules: vocabularies, alert transitions, visibility, escalation policy."""

from data.enums import (
    OPEN_STATUSES,
    AlertEventType,
    AlertKind,
    AlertStatus,
    Priority,
    Role,
    TokenKind,
    VitalKind,
)

__all__ = [
    'OPEN_STATUSES',
    'AlertEventType',
    'AlertKind',
    'AlertStatus',
    'Priority',
    'Role',
    'TokenKind',
    'VitalKind',
]
