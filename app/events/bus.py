"""The event bus: publish after commit, fan out to subscribers, each isolated behind its own bounded queue."""

import asyncio
import inspect
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from .models import BaseEvent, Event, from_json, to_json
from .transport import MemoryTransport, Resync, SignalHandler, Transport

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None] | None]
SLOW_HANDLER_SECONDS = 1.0
# Event ids remembered to drop a second copy of the same event (a Redis publish that timed out after all arrived,
# while the process had already delivered it locally).
RECENT_EVENT_IDS = 4096


class Subscription:
    """One subscriber: a bounded queue drained in order by its own task. Calling it unsubscribes."""

    def __init__(self, bus: 'EventBus', handler: Handler, hospital_id: int | None, name: str, queue_size: int) -> None:
        self._bus = bus
        self._handler = handler
        self.hospital_id = hospital_id
        self.name = name
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self._overflowing = False
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(
            self._run(), name=f'vigil-subscriber-{name}')

    @property
    def active(self) -> bool:
        return self._task is not None

    def matches(self, event: BaseEvent) -> bool:
        return self.hospital_id is None or self.hospital_id == event.hospital_id

    def offer(self, event: Event) -> None:
        """Queue an event without ever blocking; a full queue drops its oldest event (the subscriber resyncs)."""
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                log.warning('event subscriber %s is too slow: its queue of %d is full, dropping oldest events',
                            self.name, self.queue.maxsize)
        elif self._overflowing and self.queue.qsize() < self.queue.maxsize // 2:
            self._overflowing = False
        self.queue.put_nowait(event)

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            started = time.perf_counter()
            try:
                result = self._handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception('event subscriber %s failed on %s seq %d', self.name, event.type, event.seq)
            finally:
                self.queue.task_done()
            elapsed = time.perf_counter() - started
            if elapsed > SLOW_HANDLER_SECONDS:
                log.warning('event subscriber %s took %.1f s for %s', self.name, elapsed, event.type)

    def unsubscribe(self) -> None:
        """Stop receiving events; safe to call any number of times."""
        task, self._task = self._task, None
        if task is None:
            return
        self._bus._remove(self)
        task.cancel()
        while not self.queue.empty():  # let drain() waiters finish
            self.queue.get_nowait()
            self.queue.task_done()

    __call__ = unsubscribe


class EventBus:
    """Typed pub/sub over a transport; the memory transport by default, Redis when configured."""

    def __init__(self, transport: Transport | None = None, *, queue_size: int = 1000) -> None:
        self._transport = transport or MemoryTransport()
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []
        self._started = False
        self._delivery_listeners: list[Callable[[BaseEvent], None]] = []
        self._recent: deque[UUID] = deque(maxlen=RECENT_EVENT_IDS)
        self._recent_set: set[UUID] = set()
        self.duplicates = 0
        self._publish_listeners: list[Callable[[BaseEvent], None]] = []
        self.published = 0
        self.published_by_type: Counter[str] = Counter()
        self.delivered = 0

    async def start(self) -> None:
        """Connect the transport; idempotent and done lazily by publish()."""
        if not self._started:
            self._started = True
            await self._transport.start(self._deliver)

    async def publish(self, event: BaseEvent, payload: str | None = None) -> None:
        """Hand an event to the transport; never waits for subscribers. `payload`: the event as to_json gives it,
        when the caller has it already (the unit of work serialised it for the event log)."""
        await self.start()
        await self._transport.publish(event.hospital_id, payload if payload is not None else to_json(event))
        self.published += 1
        self.published_by_type[type(event).__name__] += 1
        for listener in self._publish_listeners:
            try:
                listener(event)
            except Exception:
                log.exception('event publish listener failed on %s', type(event).__name__)

    def subscribe(self, handler: Handler, *, hospital_id: int | None = None, name: str | None = None,
                  queue_size: int | None = None) -> Subscription:
        """Call handler for every event (of one hospital, if given), in publish order; return the unsubscriber."""
        label = name or str(getattr(handler, '__qualname__', 'handler'))
        subscription = Subscription(self, handler, hospital_id, label, queue_size or self._queue_size)
        self._subscriptions.append(subscription)
        return subscription

    def on_resync(self, callback: Resync) -> None:
        """Call callback when the transport may have lost events (after a Redis reconnect): pages must reload."""
        self._transport.on_resync(callback)

    def on_signal(self, handler: SignalHandler) -> None:
        """Call handler with every signal sent by any process (sign-outs and other notices that are no events)."""

        def safe(message: dict[str, Any]) -> None:
            try:
                handler(message)
            except Exception:
                log.exception('signal handler failed on %s', message.get('kind'))

        self._transport.on_signal(safe)

    async def signal(self, kind: str, **data: Any) -> None:
        """Send a short-lived notice to every process (its own included); lost if the transport is down."""
        await self.start()
        await self._transport.signal({'kind': kind, **data})

    def on_publish(self, callback: Callable[[BaseEvent], None]) -> None:
        """Call callback for every event this process published (once across all processes: logs, counters)."""
        self._publish_listeners.append(callback)

    def on_delivery(self, callback: Callable[[BaseEvent], None]) -> None:
        """Call callback once for every event this process receives, before subscribers handle it (metrics)."""
        self._delivery_listeners.append(callback)

    async def problem(self) -> str | None:
        """Return why events cannot travel right now, or None when they can (readiness)."""
        return await self._transport.problem()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def flush(self) -> None:
        """Wait until the events this process published so far have reached its subscribers' queues."""
        await self._transport.flush()

    async def drain(self) -> None:
        """Wait until every event delivered so far has been handled by every subscriber."""
        while True:  # handlers may publish again: repeat until a pass in which nothing new was delivered
            # NOTE: an empty queue is not an idle one (its handler may still hold the last event): count deliveries.
            await self._transport.flush()  # with Redis, our own events may still be on their way back
            delivered = self.delivered
            await asyncio.gather(*(s.queue.join() for s in list(self._subscriptions)))
            if self.delivered == delivered:
                return

    async def close(self) -> None:
        """Disconnect the transport and stop every subscriber."""
        await self._transport.close()
        for subscription in list(self._subscriptions):
            subscription.unsubscribe()
        self._started = False

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def _deliver(self, payload: str) -> None:
        try:
            event = from_json(payload)
        except ValidationError as error:
            log.error('dropping an event that does not parse: %s', error.errors()[:1])
            return
        if event.event_id in self._recent_set:
            self.duplicates += 1
            log.debug('dropping a second copy of event %s', event.event_id)
            return
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(event.event_id)
        self._recent_set.add(event.event_id)
        for listener in self._delivery_listeners:
            try:
                listener(event)
            except Exception:
                log.exception('event delivery listener failed on %s', event.type)
        for subscription in list(self._subscriptions):
            if subscription.matches(event):
                subscription.offer(event)
                self.delivered += 1
