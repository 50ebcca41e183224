"""Typed events, the bus that fans them out and the transports that carry them."""

from .bus import EventBus, Handler, Subscription
from .models import (
    EVENT_TYPES,
    AlertAcknowledged,
    AlertCleared,
    AlertEscalated,
    AlertRaised,
    AlertResolved,
    AlertRetriggered,
    AlertSnoozed,
    BaseEvent,
    Event,
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
    'AlertResolved',
    'AlertRetriggered',
    'AlertSnoozed',
    'BaseEvent',
    'Event',
    'EventBus',
    'Handler',
    'MemoryTransport',
    'Subscription',
    'Transport',
    'VitalsRecorded',
    'from_json',
    'from_payload',
    'to_json',
]
