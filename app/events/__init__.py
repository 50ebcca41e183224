"""Typed events, the bus that fans them out and the transports that carry them."""

from .bus import EventBus, Handler, Subscription
from .models import (
    EVENT_TYPES,
    AlertAcknowledged,
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    AlertReactivated,
    AlertResolved,
    AlertRetriggered,
    AlertSnoozed,
    AlertUpdated,
    BaseEvent,
    Event,
    PatientUpdated,
    VitalsRecorded,
    from_json,
    from_payload,
    to_json,
)
from .transport import MemoryTransport, Transport

__all__ = [
    'EVENT_TYPES',
    'AlertAcknowledged',
    'AlertCleared',
    'AlertEscalated',
    'AlertRaised',
    'AlertReactivated',
    'AlertResolved',
    'AlertRetriggered',
    'AlertSnoozed',
    'AlertUpdated',
    'BaseEvent',
    'Event',
    'EventBus',
    'Handler',
    'MemoryTransport',
    'PatientUpdated',
    'Subscription',
    'Transport',
    'VitalsRecorded',
    'from_json',
    'from_payload',
    'to_json',
]
