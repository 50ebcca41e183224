"""A hospital's webhook subscriptions and their deliveries: the use cases of the admin page and the API.

Only the hospital's administrators (signed in) or an integration token on behalf of a named administrator manage
webhooks: a subscription decides where patient data leaves Vigil. Every change is recorded, with who made it, in the
hospital's rule history. Secrets are shown once, at creation.
"""

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.domain import Priority, Role, TokenKind
from app.domain.text import check_one_line
from app.errors import Conflict, InvalidInput, NotAllowed, NotFound
from app.schemas import Actor
from app.services.common import acting_name, require_hospital
from app.uow import Database
from app.webhooks.rules import SECRET_PREFIX, DeliveryStatus, WebhookEvent, check_url
from app.webhooks.views import AttemptView, DeliveryView, WebhookCreated, WebhookView
from data.models import RuleChange, Ward, WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 50  # per hospital: each alert event is one row per matching subscription
SECRET_HINT_LENGTH = len(SECRET_PREFIX) + 4


class WebhookNotFound(NotFound):
    pass


class DeliveryNotFound(NotFound):
    pass


def check_can_manage(actor: Actor) -> None:
    """Only a hospital's administrators, or an integration on behalf of one, manage or read its webhooks."""
    if actor.kind == 'user' and actor.role is Role.ADMIN:
        return
    if actor.kind == 'token' and actor.token_kind is TokenKind.INTEGRATION:
        return
    if actor.kind == 'system' and actor.hospital_id is not None:
        return
    raise NotAllowed('Only an administrator of the hospital (or an integration on behalf of one) can manage its '
                     'webhooks.')


def new_secret() -> str:
    """Return a new signing secret: 256 random bits, URL-safe, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    """Return a subscription's name, stripped, or refuse it."""
    name = (name or '').strip()
    check_one_line(name, 'The name')
    if not 1 <= len(name) <= 100:
        raise InvalidInput('A webhook needs a name of 1-100 characters.')
    return name


def unique_list(values: Sequence[object] | None, what: str) -> list[object] | None:
    """Return a filter list (None: everything), refusing an empty one (it would match nothing) and duplicates."""
    if values is None:
        return None
    if not values:
        raise InvalidInput(f'{what}: leave the filter out (or null) for all; an empty list would match nothing.')
    if len(set(values)) != len(values):
        raise InvalidInput(f'{what}: each value once.')
    return list(values)


def view(row: WebhookSubscription, pending: int = 0, failed: int = 0) -> WebhookView:
    """Return a subscription as shown: never its secret, only the first characters."""
    return WebhookView(
        id=row.id, name=row.name, url=row.url, enabled=row.enabled,
        priorities=None if row.priorities is None else [Priority(p) for p in row.priorities if p in set(Priority)],
        wards=row.wards, event_types=None if row.event_types is None else [
            WebhookEvent(t) for t in row.event_types if t in set(WebhookEvent)],
        secret_hint=row.secret[:SECRET_HINT_LENGTH] + '…', created_at=row.created_at, created_by=row.created_by,
        updated_at=row.updated_at, updated_by=row.updated_by, pending=pending, failed=failed)


class WebhookService:
    """Create, list, enable/disable and delete subscriptions; list deliveries and retry a failed one."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(self, actor: Actor, *, name: str, url: str, priorities: Sequence[Priority | str] | None = None,
                     wards: Sequence[int] | None = None, event_types: Sequence[WebhookEvent | str] | None = None,
                     enabled: bool = True, on_behalf_of: str | None = None) -> WebhookCreated:
        """Subscribe a URL to the hospital's alert events; the answer carries the signing secret, this once."""
        check_can_manage(actor)
        who = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        name, url = check_name(name), check_url(url)
        filters = self._filters(priorities, event_types)
        checked_wards = unique_list(wards, 'wards')
        secret, now = new_secret(), self._clock()
        async with self._db.uow() as uow:
            session = uow.session
            await self._check_wards(session, hospital_id, checked_wards)
            count = await session.scalar(select(func.count()).select_from(WebhookSubscription)
                                         .where(WebhookSubscription.hospital_id == hospital_id))
            if (count or 0) >= MAX_SUBSCRIPTIONS:
                raise InvalidInput(f'A hospital may have at most {MAX_SUBSCRIPTIONS} webhooks; delete one first.')
            if await self._named(session, hospital_id, name) is not None:
                raise Conflict(f'There is a webhook named "{name}" already.')
            row = WebhookSubscription(hospital_id=hospital_id, name=name, url=url, secret=secret,
                                      priorities=filters[0], wards=checked_wards, event_types=filters[1],
                                      enabled=enabled, created_at=now, created_by=who, updated_at=now, updated_by=who)
            session.add(row)
            self._record(session, hospital_id, now, who, f'webhook "{name}" created, sending to {url}')
            try:
                await session.flush()
            except IntegrityError:
                raise Conflict(f'There is a webhook named "{name}" already.') from None
            created = WebhookCreated(**view(row).model_dump(), secret=secret)
            await uow.commit()
        log.info('hospital %d webhook "%s" created by %s, sending to %s', hospital_id, name, who, url)
        return created

    async def subscriptions(self, actor: Actor) -> list[WebhookView]:
        """Return the hospital's subscriptions with how many deliveries wait or failed, by name."""
        check_can_manage(actor)
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            rows = (await session.scalars(select(WebhookSubscription).where(
                WebhookSubscription.hospital_id == hospital_id).order_by(WebhookSubscription.name))).all()
            counts = await self._counts(session, [r.id for r in rows])
        return [view(r, *counts.get(r.id, (0, 0))) for r in rows]

    async def get(self, actor: Actor, webhook_id: int) -> WebhookView:
        """Return one subscription of the hospital."""
        check_can_manage(actor)
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            row = await self._load(session, hospital_id, webhook_id)
            counts = await self._counts(session, [row.id])
        return view(row, *counts.get(row.id, (0, 0)))

    async def set_enabled(self, actor: Actor, webhook_id: int, enabled: bool, *,
                          on_behalf_of: str | None = None) -> WebhookView:
        """Pause or resume a subscription. While paused no new events are queued for it and its pending deliveries
        wait, unattempted; resumed, they are sent (with what was pending) and new events are queued again."""
        check_can_manage(actor)
        who = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        if not isinstance(enabled, bool):
            raise InvalidInput('enabled is true or false.')
        now = self._clock()
        async with self._db.uow() as uow:
            row = await self._load(uow.session, hospital_id, webhook_id, lock=True)
            if row.enabled != enabled:
                row.enabled, row.updated_at, row.updated_by = enabled, now, who
                self._record(uow.session, hospital_id, now, who,
                             f'webhook "{row.name}" {"enabled" if enabled else "disabled"}')
            await uow.session.flush()
            counts = await self._counts(uow.session, [row.id])
            result = view(row, *counts.get(row.id, (0, 0)))
            await uow.commit()
        return result

    async def delete(self, actor: Actor, webhook_id: int, *, on_behalf_of: str | None = None) -> None:
        """Delete a subscription with its pending deliveries and its delivery history (disable it to keep them)."""
        check_can_manage(actor)
        who = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        now = self._clock()
        async with self._db.uow() as uow:
            row = await self._load(uow.session, hospital_id, webhook_id, lock=True)
            # Explicit, not left to ON DELETE CASCADE: SQLite enforces foreign keys only where the connection asks.
            deliveries = select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == row.id)
            await uow.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
            await uow.session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == row.id))
            await uow.session.delete(row)
            self._record(uow.session, hospital_id, now, who, f'webhook "{row.name}" deleted ({row.url})')
            await uow.commit()

    async def deliveries(self, actor: Actor, webhook_id: int | None = None, *, limit: int = 50,
                         status: DeliveryStatus | None = None) -> list[DeliveryView]:
        """Return the hospital's latest deliveries (of one subscription, of one status), newest first, with their
        attempts."""
        check_can_manage(actor)
        hospital_id = require_hospital(actor)
        if not 1 <= limit <= 500:
            raise InvalidInput('limit is 1-500.')
        async with self._db.read() as session:
            query = select(WebhookDelivery).where(WebhookDelivery.hospital_id == hospital_id)
            if webhook_id is not None:
                await self._load(session, hospital_id, webhook_id)
                query = query.where(WebhookDelivery.subscription_id == webhook_id)
            if status is not None:
                query = query.where(WebhookDelivery.status == DeliveryStatus(status).value)
            rows = (await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))).all()
            attempts = (await session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([r.id for r in rows])).order_by(WebhookAttempt.number.desc()))).all()
        by_delivery: dict[int, list[AttemptView]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt.delivery_id, []).append(AttemptView.model_validate(attempt))
        return [DeliveryView(
            id=r.id, subscription_id=r.subscription_id, event_seq=r.event_seq, event_type=WebhookEvent(r.event_type),
            status=DeliveryStatus(r.status), attempts=r.attempts,
            next_attempt_at=r.next_attempt_at if r.status == DeliveryStatus.PENDING else None,
            created_at=r.created_at, finished_at=r.finished_at, last_error=r.last_error,
            history=by_delivery.get(r.id, [])) for r in rows]

    async def retry(self, actor: Actor, delivery_id: int, *, webhook_id: int | None = None,
                    on_behalf_of: str | None = None) -> DeliveryView:
        """Send a given-up delivery (of this webhook, if named) again, now, with a fresh set of retries; the same
        body, id and event."""
        check_can_manage(actor)
        who = acting_name(actor, on_behalf_of)
        hospital_id = require_hospital(actor)
        now = self._clock()
        async with self._db.uow() as uow:
            row = await uow.session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if row is None or row.hospital_id != hospital_id or webhook_id not in (None, row.subscription_id):
                raise DeliveryNotFound(f'Webhook delivery {delivery_id} not found.')
            if row.status != DeliveryStatus.FAILED:
                raise Conflict(f'Webhook delivery {delivery_id} is {row.status}: only a failed delivery is retried.')
            # The fence (attempts) is left alone: a worker still finishing an old claim cannot record over this.
            result = await uow.session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == row.id,
                                              WebhookDelivery.status == DeliveryStatus.FAILED.value)
                .values(status=DeliveryStatus.PENDING.value, streak=0, next_attempt_at=now, finished_at=None)
                .execution_options(synchronize_session='fetch'))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise Conflict(f'Webhook delivery {delivery_id} changed meanwhile; reload and decide again.')
            subscription = await uow.session.get(WebhookSubscription, row.subscription_id)
            name = subscription.name if subscription is not None else row.subscription_id
            self._record(uow.session, hospital_id, now, who,
                         f'webhook "{name}": delivery {delivery_id} ({row.event_type}) retried')
            await uow.commit()
        return (await self._one_delivery(actor, delivery_id))

    async def _one_delivery(self, actor: Actor, delivery_id: int) -> DeliveryView:
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            subscription_id = await session.scalar(select(WebhookDelivery.subscription_id).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.hospital_id == hospital_id))
        if subscription_id is None:
            raise DeliveryNotFound(f'Webhook delivery {delivery_id} not found.')
        for each in await self.deliveries(actor, subscription_id, limit=500):
            if each.id == delivery_id:
                return each
        raise DeliveryNotFound(f'Webhook delivery {delivery_id} not found.')

    @staticmethod
    def _filters(priorities: Sequence[Priority | str] | None,
                 event_types: Sequence[WebhookEvent | str] | None) -> tuple[list[str] | None, list[str] | None]:
        checked_priorities = unique_list(priorities, 'priorities')
        checked_types = unique_list(event_types, 'event_types')
        try:
            return ([Priority(p).value for p in checked_priorities] if checked_priorities is not None else None,  # type: ignore[arg-type]
                    [WebhookEvent(t).value for t in checked_types] if checked_types is not None else None)  # type: ignore[arg-type]
        except ValueError as error:
            raise InvalidInput(f'{error}: priorities are {", ".join(Priority)}; event types are '
                               f'{", ".join(WebhookEvent)}.') from None

    @staticmethod
    async def _check_wards(session: AsyncSession, hospital_id: int, wards: list[object] | None) -> None:
        if wards is None:
            return
        if any(isinstance(w, bool) or not isinstance(w, int) for w in wards):
            raise InvalidInput('wards are ward ids, whole numbers.')
        found = set((await session.scalars(select(Ward.id).where(Ward.hospital_id == hospital_id,
                                                                 Ward.id.in_(wards)))).all())
        unknown = [w for w in wards if w not in found]
        if unknown:
            raise InvalidInput(f'No ward {", ".join(map(str, unknown))} in this hospital.')

    @staticmethod
    async def _named(session: AsyncSession, hospital_id: int, name: str) -> int | None:
        return await session.scalar(select(WebhookSubscription.id).where(
            WebhookSubscription.hospital_id == hospital_id, WebhookSubscription.name == name))

    @staticmethod
    async def _load(session: AsyncSession, hospital_id: int, webhook_id: int, *,
                    lock: bool = False) -> WebhookSubscription:
        row = await session.get(WebhookSubscription, webhook_id, with_for_update=lock)
        if row is None or row.hospital_id != hospital_id:
            raise WebhookNotFound(f'Webhook {webhook_id} not found.')
        return row

    @staticmethod
    async def _counts(session: AsyncSession, ids: list[int]) -> dict[int, tuple[int, int]]:
        if not ids:
            return {}
        rows = (await session.execute(
            select(WebhookDelivery.subscription_id,
                   func.count(case((WebhookDelivery.status == DeliveryStatus.PENDING.value, 1))),
                   func.count(case((WebhookDelivery.status == DeliveryStatus.FAILED.value, 1))))
            .where(and_(WebhookDelivery.subscription_id.in_(ids),
                        WebhookDelivery.status != DeliveryStatus.DELIVERED.value))
            .group_by(WebhookDelivery.subscription_id))).all()
        return {subscription: (pending, failed) for subscription, pending, failed in rows}

    @staticmethod
    def _record(session: AsyncSession, hospital_id: int, now: datetime, who: str, change: str) -> None:
        # Where patient data leaves Vigil is part of the record, beside the alarm-rule changes.
        session.add(RuleChange(hospital_id=hospital_id, at=now, actor=who, change=change))
