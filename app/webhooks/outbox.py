"""The webhook outbox: alert events become delivery rows inside the transaction that produced them.

Registered on the Database (bootstrap) as a before-commit hook: an alert change and its deliveries commit together
or not at all, so a crash right after the commit loses no delivery, and sending (app.webhooks.dispatcher) never
happens inside, or waits for, the alert's own transaction.
"""

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import Priority
from app.events import BaseEvent
from app.events.models import AlertEventBase
from app.webhooks.rules import EVENT_NAMES, PAYLOAD_VERSION, DeliveryStatus, as_filter
from data.models import Hospital, WebhookDelivery, WebhookSubscription

DELIVERIES = cast(Table, WebhookDelivery.__table__)
INSERT_DELIVERIES = insert(DELIVERIES)


def payload(event: AlertEventBase, slug: str, hospital_name: str) -> dict[str, Any]:
    """Return the JSON document a receiver gets for an alert event (README "Webhooks" documents it)."""
    return {
        'version': PAYLOAD_VERSION,
        'id': str(event.event_id),
        'type': EVENT_NAMES[event.type].value,  # type: ignore[attr-defined]
        'seq': event.seq,
        'occurred_at': event.occurred_at.isoformat(),
        'actor': event.actor,
        'hospital': {'id': event.hospital_id, 'slug': slug, 'name': hospital_name},
        'alert': event.alert.model_dump(mode='json'),
    }


def encode(document: dict[str, Any]) -> str:
    """Return the body as sent and signed: compact JSON, non-ASCII kept as UTF-8."""
    return json.dumps(document, ensure_ascii=False, separators=(',', ':'))


async def queue_webhooks(session: AsyncSession, events: Sequence[BaseEvent]) -> None:
    """Write one pending delivery per alert event and matching enabled subscription (nothing for other events)."""
    alerts = [e for e in events if isinstance(e, AlertEventBase) and getattr(e, 'type', None) in EVENT_NAMES]
    if not alerts:
        return
    hospitals = {e.hospital_id for e in alerts}
    # One small indexed read (Core columns, nothing loaded into the session) per committing transaction with alert
    # events; none for vitals-only commits.
    rows = (await session.execute(
        select(WebhookSubscription.id, WebhookSubscription.hospital_id, WebhookSubscription.priorities,
               WebhookSubscription.wards, WebhookSubscription.event_types, Hospital.slug, Hospital.name)
        .join(Hospital, Hospital.id == WebhookSubscription.hospital_id)
        .where(WebhookSubscription.hospital_id.in_(hospitals), WebhookSubscription.enabled.is_(True)))).all()
    if not rows:
        return
    now = alerts[-1].occurred_at
    values = []
    for event in alerts:
        name = EVENT_NAMES[event.type]  # type: ignore[attr-defined]
        body: str | None = None
        for subscription_id, hospital_id, priorities, wards, event_types, slug, hospital_name in rows:
            if hospital_id != event.hospital_id or not as_filter(priorities, wards, event_types).matches(
                    name, Priority(event.alert.priority), event.alert.ward_id):
                continue
            body = body or encode(payload(event, slug, hospital_name))
            values.append({'hospital_id': event.hospital_id, 'subscription_id': subscription_id,
                           'event_seq': event.seq, 'event_type': name.value, 'body': body,
                           'status': DeliveryStatus.PENDING.value, 'attempts': 0, 'streak': 0,
                           'next_attempt_at': now, 'created_at': now})
    if values:
        await (await session.connection()).execute(INSERT_DELIVERIES, values)
