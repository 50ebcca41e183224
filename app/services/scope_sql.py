"""The SQL form of domain.scope.AccessScope: the same predicates as WHERE clauses over any table's columns.

A property test (tests/test_scope.py) holds each clause to select exactly the rows its Python predicate accepts, on
SQLite and PostgreSQL, for random actors, patients and alerts.
"""

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.sql.elements import SQLCoreOperations

from app.domain.scope import URGENT_PRIORITIES, AccessScope, AlertReach
from data.models import Alert, Patient

Column = SQLCoreOperations[int]
TextColumn = SQLCoreOperations[str]


def hospital_clause(scope: AccessScope, hospital_id: Column) -> ColumnElement[bool]:
    """SQL form of AccessScope.sees_hospital."""
    return true() if scope.hospital_id is None else hospital_id == scope.hospital_id


def _own_ward(scope: AccessScope, ward_id: Column) -> ColumnElement[bool]:
    if scope.wards is None:
        return true()
    return ward_id.in_(sorted(scope.wards)) if scope.wards else false()


def ward_clause(scope: AccessScope, hospital_id: Column, ward_id: Column) -> ColumnElement[bool]:
    """SQL form of AccessScope.sees_ward and sees_patient: rows of the wards whose patients it sees."""
    return hospital_clause(scope, hospital_id) & _own_ward(scope, ward_id)


def alert_clause(scope: AccessScope, hospital_id: Column, ward_id: Column, priority: TextColumn,
                 escalation_level: Column) -> ColumnElement[bool]:
    """SQL form of AccessScope.sees_alert."""
    escalated = escalation_level > 0
    reach: ColumnElement[bool]
    match scope.alerts:
        case AlertReach.EVERY:
            reach = true()
        case AlertReach.URGENT:
            reach = or_(priority.in_(sorted(URGENT_PRIORITIES)), escalated)
        case AlertReach.WARDS_OR_ESCALATED:
            reach = or_(_own_ward(scope, ward_id), escalated)
        case AlertReach.WARDS:
            reach = _own_ward(scope, ward_id)
    return hospital_clause(scope, hospital_id) & reach


def trail_clause(scope: AccessScope, hospital_id: Column, ward_id: Column, priority: TextColumn,
                 escalation_level: Column) -> ColumnElement[bool]:
    """SQL form of AccessScope.reads_trail."""
    if not scope.staff:
        return false()
    return or_(ward_clause(scope, hospital_id, ward_id),
               alert_clause(scope, hospital_id, ward_id, priority, escalation_level))


def patients_in(scope: AccessScope) -> ColumnElement[bool]:
    """Return the condition on Patient for the patients the scope sees."""
    return ward_clause(scope, Patient.hospital_id, Patient.ward_id)


def alerts_in(scope: AccessScope) -> ColumnElement[bool]:
    """Return the condition on Alert for the alerts the scope sees."""
    return alert_clause(scope, Alert.hospital_id, Alert.ward_id, Alert.priority, Alert.escalation_level)


def trails_in(scope: AccessScope) -> ColumnElement[bool]:
    """Return the condition on Alert for the alerts whose audit trail the scope reads."""
    return trail_clause(scope, Alert.hospital_id, Alert.ward_id, Alert.priority, Alert.escalation_level)
