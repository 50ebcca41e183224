"""Typed, frozen events named in the past tense; each carries its hospital, ward, sequence and snapshot."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.schemas import AlertView, PatientView, VitalReadingView


class BaseEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    hospital_id: int
    ward_id: int | None
    # Per-hospital, gap-free, assigned by the unit of work inside the writing transaction (0 = not yet assigned).
    seq: int = 0
    occurred_at: datetime
    actor: str


class AlertEventBase(BaseEvent):
    alert: AlertView


class AlertRaised(AlertEventBase):
    type: Literal['AlertRaised'] = 'AlertRaised'


class AlertRetriggered(AlertEventBase):
    type: Literal['AlertRetriggered'] = 'AlertRetriggered'


class AlertAcknowledged(AlertEventBase):
    type: Literal['AlertAcknowledged'] = 'AlertAcknowledged'


class AlertResolved(AlertEventBase):
    type: Literal['AlertResolved'] = 'AlertResolved'


class AlertEscalated(AlertEventBase):
    type: Literal['AlertEscalated'] = 'AlertEscalated'


class AlertSnoozed(AlertEventBase):
    type: Literal['AlertSnoozed'] = 'AlertSnoozed'


class AlertCleared(AlertEventBase):
    """The condition behind a latched alert recovered; the alert stays open until a person resolves it."""

    type: Literal['AlertCleared'] = 'AlertCleared'


class AlertReactivated(AlertEventBase):
    """The alert's priority rose: a new alarm condition. An acknowledgement or snooze of the milder one no longer
    holds, so the alert is active (unacknowledged) again, with its escalation restarted at the new priority."""

    type: Literal['AlertReactivated'] = 'AlertReactivated'


class AlertUpdated(AlertEventBase):
    """The alert's headline changed to the patient's current state (e.g. another NEWS2 total), without a re-alarm."""

    type: Literal['AlertUpdated'] = 'AlertUpdated'


class VitalsRecorded(BaseEvent):
    type: Literal['VitalsRecorded'] = 'VitalsRecorded'
    patient: PatientView
    readings: tuple[VitalReadingView, ...]


class PatientUpdated(BaseEvent):
    """Something about a patient other than vitals changed (e.g. the SpO2 scale prescribed); `change` says what."""

    type: Literal['PatientUpdated'] = 'PatientUpdated'
    patient: PatientView
    change: str


Event = Annotated[
    AlertRaised | AlertRetriggered | AlertAcknowledged | AlertResolved | AlertEscalated | AlertSnoozed | AlertCleared
    | AlertReactivated | AlertUpdated | VitalsRecorded | PatientUpdated,
    Field(discriminator='type'),
]
EVENT_TYPES: tuple[type[BaseEvent], ...] = (
    AlertRaised, AlertRetriggered, AlertAcknowledged, AlertResolved, AlertEscalated, AlertSnoozed, AlertCleared,
    AlertReactivated, AlertUpdated, VitalsRecorded, PatientUpdated,
)
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def to_json(event: BaseEvent) -> str:
    """Serialise an event for a transport."""
    return event.model_dump_json()


def from_json(payload: str | bytes) -> Event:
    """Parse an event that came through a transport (raises pydantic.ValidationError on garbage)."""
    return _ADAPTER.validate_json(payload)


def event_payload(event: BaseEvent) -> dict[str, object]:
    """Return the JSON-compatible dict stored in the durable event log."""
    return event.model_dump(mode='json')


def from_payload(payload: dict[str, object]) -> Event:
    """Rebuild an event from the durable event log."""
    return _ADAPTER.validate_python(payload)
