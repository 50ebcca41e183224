"""The webhook worker: sends pending deliveries from the outbox, signs them, records every attempt, retries failures
with exponential backoff.

Every process may run one. A delivery is claimed in the database before it is sent: a conditional UPDATE that only
one process can win (it moves next_attempt_at past the attempt's longest duration and counts the attempt), so each
attempt happens once however many processes run. The result is recorded only by the process that holds the claim.
Nothing is held in memory: a process stopped between attempts leaves the delivery pending in the database, and
whichever process runs next sends it when its time comes. A process that dies after sending but before recording
lets the claim lapse, and the delivery is sent again with the same id: receivers de-duplicate by `id`.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, delete, select, update

from app.clock import Clock
from app.uow import Database
from app.webhooks.rules import (
    ATTEMPT_TIMEOUT_SECONDS,
    CLAIM_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    DELIVERY_HEADER,
    EVENT_HEADER,
    RETENTION_DAYS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryStatus,
    next_attempt,
    signature,
)
from data.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 2.0
CONCURRENCY = 8  # attempts under way at once per process: one slow receiver never holds up the others
BATCH = 100  # deliveries looked at per round
USER_AGENT = 'Vigil-Webhooks/1'
PRUNE_EVERY = timedelta(hours=1)
PRUNE_BATCH = 1000


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    status: DeliveryStatus
    status_code: int | None
    error: str | None


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def describe(error: Exception) -> str:
    """Return a failed attempt's error as an administrator reads it (no stack, at most 500 characters)."""
    kinds = ((httpx.ConnectTimeout, 'connection timed out'), (httpx.ReadTimeout, 'no answer in time'),
             (httpx.TimeoutException, 'timed out'), (httpx.ConnectError, 'could not connect'))
    what = next((text for kind, text in kinds if isinstance(error, kind)), type(error).__name__)
    detail = str(error).strip()
    return f'{what}: {detail}'[:500] if detail else what


class WebhookDispatcher:
    """Run `tick(now)` every few seconds: send every pending delivery whose time has come, once."""

    def __init__(self, db: Database, clock: Clock, *, interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._db = db
        self._clock = clock
        self._interval = interval_seconds
        self._transport = transport  # tests may hand in one; by default httpx's own
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._pruned_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Redirects are not followed: a signed alert goes where the administrator said, nowhere else. No cookies,
            # no proxy from the environment unless the operator set one (httpx reads HTTP(S)_PROXY itself).
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(ATTEMPT_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
                follow_redirects=False, transport=self._transport, headers={'User-Agent': USER_AGENT})
        return self._client

    async def tick(self, now: datetime | None = None) -> list[Outcome]:
        """Attempt every delivery due at `now` (each claimed first); return what this process did."""
        now = now or self._clock()
        async with self._db.read() as session:
            due = (await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.attempts)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now,
                       WebhookSubscription.enabled.is_(True))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(BATCH))).all()
        if not due:
            return []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery_id: int, attempts: int) -> Outcome | None:
            async with gate:
                return await self._attempt(delivery_id, attempts, now)

        done = await asyncio.gather(*(one(delivery_id, attempts) for delivery_id, attempts in due))
        return [outcome for outcome in done if outcome is not None]

    async def prune(self, now: datetime | None = None) -> int:
        """Delete deliveries (and their attempts) that finished more than RETENTION_DAYS ago; return how many."""
        now = now or self._clock()
        async with self._db.uow() as uow:
            old = (await uow.session.scalars(
                select(WebhookDelivery.id).where(WebhookDelivery.status != DeliveryStatus.PENDING.value,
                                                 WebhookDelivery.finished_at < now - timedelta(days=RETENTION_DAYS))
                .order_by(WebhookDelivery.id).limit(PRUNE_BATCH))).all()
            if old:
                await uow.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
                await uow.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(old)))
                await uow.commit()
        return len(old)

    async def _attempt(self, delivery_id: int, attempts: int, now: datetime) -> Outcome | None:
        claim = await self._claim(delivery_id, attempts, now)
        if claim is None:
            return None  # another process took it, or it changed meanwhile
        url, secret, body, event_type, streak = claim
        number = attempts + 1
        timestamp = int(now.timestamp())
        data = body.encode()
        headers = {'Content-Type': 'application/json', EVENT_HEADER: event_type, DELIVERY_HEADER: str(delivery_id),
                   TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, data)}
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            response = await self._http().post(url, content=data, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f'HTTP {status_code} {response.reason_phrase}'.strip()[:500]
        except httpx.HTTPError as failure:
            error = describe(failure)
        except Exception as failure:  # an invalid URL stored by an older version, a TLS library error ...
            log.exception('webhook delivery %d: attempt %d failed unexpectedly', delivery_id, number)
            error = describe(failure)
        milliseconds = round((time.monotonic() - started) * 1000)
        return await self._record(delivery_id, number, streak + 1, now, milliseconds, status_code, error)

    async def _claim(self, delivery_id: int, attempts: int,
                     now: datetime) -> tuple[str, str, str, str, int] | None:
        async with self._db.uow() as uow:
            session = uow.session
            # The claim: one process wins (the attempts it saw must still be the count; the time must still be due).
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == attempts,
                       WebhookDelivery.status == DeliveryStatus.PENDING.value,
                       WebhookDelivery.next_attempt_at <= now)
                .values(attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False))
            if _rowcount(claimed) != 1:
                return None
            row = (await session.execute(
                select(WebhookSubscription.url, WebhookSubscription.secret, WebhookDelivery.body,
                       WebhookDelivery.event_type, WebhookDelivery.streak)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(WebhookDelivery.id == delivery_id))).one_or_none()
            if row is None:
                return None
            await uow.commit()  # the claim is durable before anything is sent
        url, secret, body, event_type, streak = row
        return str(url), str(secret), str(body), str(event_type), int(streak)

    async def _record(self, delivery_id: int, number: int, streak: int, now: datetime, milliseconds: int,
                      status_code: int | None, error: str | None) -> Outcome | None:
        finished = self._clock()
        if error is None:
            status, due = DeliveryStatus.DELIVERED, finished
        else:
            retry_at = next_attempt(streak, now)
            status, due = (DeliveryStatus.FAILED, finished) if retry_at is None else (DeliveryStatus.PENDING, retry_at)
        async with self._db.uow() as uow:
            session = uow.session
            # Only the holder of the claim records: `attempts` is still the number this process claimed.
            result = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == number,
                       WebhookDelivery.status == DeliveryStatus.PENDING.value)
                .values(status=status.value, streak=streak, next_attempt_at=due, last_error=error,
                        finished_at=None if status is DeliveryStatus.PENDING else finished)
                .execution_options(synchronize_session=False))
            if _rowcount(result) == 1:
                session.add(WebhookAttempt(delivery_id=delivery_id, number=number, started_at=now,
                                           milliseconds=milliseconds, status_code=status_code, error=error))
                await uow.commit()
            else:
                log.warning('webhook delivery %d: attempt %d finished after its claim lapsed (or the webhook was '
                            'deleted); not recorded', delivery_id, number)
                return None
        if status is DeliveryStatus.FAILED:
            log.error('webhook delivery %d given up after %d attempts: %s', delivery_id, number, error)
        elif error is not None:
            log.warning('webhook delivery %d attempt %d failed (%s); next attempt at %s', delivery_id, number, error,
                        due.isoformat())
        return Outcome(delivery_id, status, status_code, error)

    async def run(self, interval_seconds: float | None = None) -> None:
        """Tick forever; a failing round is logged and retried on the next, never the end of the loop."""
        interval = self._interval if interval_seconds is None else interval_seconds
        log.info('webhook worker started: pending deliveries every %g s', interval)
        while True:
            try:
                now = self._clock()
                if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                    self._pruned_at = now
                    await self.prune(now)
                await self.tick(now)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception('webhook worker: a round failed; retrying in %g s', interval)
            await self._sleep(interval)

    def start(self) -> None:
        """Start the loop as a task of the running event loop (a second call while it runs does nothing)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self.run(), name='vigil-webhooks')
        self._task.add_done_callback(self._ended)

    @staticmethod
    def _ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error('webhook worker stopped unexpectedly: webhooks are no longer sent', exc_info=task.exception())

    async def stop(self) -> None:
        """Stop the loop, wait until it has ended and close its connections."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
