"""Who may see and act on which patients, wards and alerts: the one access rule, built once per actor.

- The system itself (escalation, detection, the operator's command line) reaches everything of the hospital it
  names, or of every hospital when it names none.
- API tokens (device, kiosk, integration) reach every ward and every alert of their hospital; what a kind of token
  may *do* is decided per action (app/api/auth.py, domain.alerts.check_can_respond).
- Signed-in staff see the patients of their wards; physicians and administrators see every ward's patients.
  Of the alerts, nurses see their wards', charge nurses also every escalated one, physicians every critical, high
  or escalated one, administrators all.
- The audit trail is for signed-in staff: an alert's trail is readable by whoever may see the alert or open its
  ward's patients.
An action on a patient or an alert needs the same reach as seeing it. services.scope_sql is the SQL form of these
predicates; a property test holds the two to agree on SQLite and PostgreSQL.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from app.errors import NotAllowed
from data.enums import Priority, Role

from ..schemas import Actor, AlertView, WardView

URGENT_PRIORITIES = frozenset({Priority.CRITICAL, Priority.HIGH})


class AlertReach(StrEnum):
    """Which alerts of its hospital an actor sees."""

    EVERY = 'every'  # administrators, tokens, the system
    URGENT = 'urgent'  # physicians: critical, high or escalated alerts of any ward
    WARDS_OR_ESCALATED = 'wards_or_escalated'  # charge nurses: their wards', and escalated ones of any ward
    WARDS = 'wards'  # nurses: their wards' alerts only


# Roles that see every ward's patients; the others see their assigned wards'.
_EVERY_WARD = frozenset({Role.PHYSICIAN, Role.ADMIN})
_ALERT_REACH = {Role.ADMIN: AlertReach.EVERY, Role.PHYSICIAN: AlertReach.URGENT,
                Role.CHARGE_NURSE: AlertReach.WARDS_OR_ESCALATED, Role.NURSE: AlertReach.WARDS}


@dataclass(frozen=True)
class AccessScope:
    """What one actor reaches; immutable and hashable (two actors with equal scopes see exactly the same)."""

    hospital_id: int | None  # None: every hospital (the system acting for none in particular)
    wards: frozenset[int] | None  # the wards whose patients it sees; None: every ward of its hospital
    alerts: AlertReach
    staff: bool  # a signed-in person (only they read the audit trail)

    @classmethod
    def of(cls, actor: Actor) -> 'AccessScope':
        """Return the scope of an actor (a user's as assigned when the actor was read)."""
        if actor.kind != 'user':
            return cls(hospital_id=actor.hospital_id, wards=None, alerts=AlertReach.EVERY, staff=False)
        if actor.hospital_id is None or actor.role is None:
            # A user record always has both; an actor built without them reaches nothing.
            return cls(hospital_id=actor.hospital_id or 0, wards=frozenset(), alerts=AlertReach.WARDS, staff=True)
        wards = None if actor.role in _EVERY_WARD else frozenset(actor.ward_ids)
        return cls(hospital_id=actor.hospital_id, wards=wards, alerts=_ALERT_REACH[actor.role], staff=True)

    @property
    def sees_every_ward(self) -> bool:
        """Tell whether it sees the patients of every ward of its hospital."""
        return self.wards is None

    @property
    def sees_whole_hospital(self) -> bool:
        """Tell whether it sees every patient and every alert of its hospital."""
        return self.wards is None and self.alerts is AlertReach.EVERY

    def sees_hospital(self, hospital_id: int) -> bool:
        """Tell whether the hospital is its own (anything of another hospital is not found, not forbidden)."""
        return self.hospital_id is None or self.hospital_id == hospital_id

    def sees_ward(self, hospital_id: int, ward_id: int) -> bool:
        """Tell whether it sees the patients of this ward."""
        return self.sees_hospital(hospital_id) and (self.wards is None or ward_id in self.wards)

    def sees_patient(self, hospital_id: int, ward_id: int) -> bool:
        """Tell whether it may open (and act on) a patient of this hospital and ward."""
        return self.sees_ward(hospital_id, ward_id)

    def sees_alert(self, hospital_id: int, ward_id: int, priority: Priority, escalation_level: int) -> bool:
        """Tell whether it may see (and act on) an alert of this hospital, ward, priority and escalation level."""
        if not self.sees_hospital(hospital_id):
            return False
        own_ward = self.wards is None or ward_id in self.wards
        escalated = escalation_level > 0
        match self.alerts:
            case AlertReach.EVERY:
                return True
            case AlertReach.URGENT:
                return priority in URGENT_PRIORITIES or escalated
            case AlertReach.WARDS_OR_ESCALATED:
                return own_ward or escalated
            case AlertReach.WARDS:
                return own_ward

    def reads_trail(self, hospital_id: int, ward_id: int, priority: Priority, escalation_level: int) -> bool:
        """Tell whether it may read an alert's audit trail: staff who see the alert or its ward's patients."""
        return self.staff and (self.sees_patient(hospital_id, ward_id)
                               or self.sees_alert(hospital_id, ward_id, priority, escalation_level))

    def sees(self, alert: AlertView) -> bool:
        """Tell whether it may see an alert (sees_alert of the view)."""
        return self.sees_alert(alert.hospital_id, alert.ward_id, alert.priority, alert.escalation_level)

    def reads_trail_of(self, alert: AlertView) -> bool:
        """Tell whether it may read this alert's audit trail (reads_trail of the view)."""
        return self.reads_trail(alert.hospital_id, alert.ward_id, alert.priority, alert.escalation_level)

    def patient_wards(self, wards: Iterable[WardView]) -> tuple[WardView, ...]:
        """Return those of the wards whose patients it sees."""
        return tuple(w for w in wards if self.sees_ward(w.hospital_id, w.id))

    def alert_wards(self, wards: Iterable[WardView]) -> tuple[WardView, ...]:
        """Return those of the wards whose alerts may reach it (every ward unless it sees its own wards' only)."""
        wards = tuple(w for w in wards if self.sees_hospital(w.hospital_id))
        return self.patient_wards(wards) if self.alerts is AlertReach.WARDS else wards

    def check_patient(self, hospital_id: int, ward_id: int, patient: int | str) -> None:
        """Refuse a patient of a ward it does not see (a patient of another hospital is the caller's not-found)."""
        if not self.sees_patient(hospital_id, ward_id):
            raise NotAllowed(f'Patient {patient} is not on one of your wards.')
