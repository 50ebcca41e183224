"""The Redis transport: every process publishes to Redis and hears every event, its own included, exactly once.

One pattern subscription per process (`<prefix>:events:*`) carries the events; one plain channel
(`<prefix>:control`) carries the "reload from the database" broadcast a process sends after it was cut off.
While Redis is unreachable, a process delivers its own events straight to its own subscribers (its pages keep
working), logs one line, and reconnects with backoff. Once back, it tells every process to resync its pages,
because events published meanwhile reached only the process that wrote them.
"""

import asyncio
import json
import logging
import os
import random
import socket
import time
import uuid
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .transport import Deliver, Resync, SignalHandler, Transport

log = logging.getLogger(__name__)

# How long a connect, a publish or a readiness ping may take before Redis counts as unreachable.
SOCKET_TIMEOUT_SECONDS = 2.0
# The subscription pings Redis when it has heard nothing for this long, and gives up on a connection that has
# answered nothing for twice as long (a paused or half-dead server never closes the socket).
IDLE_PING_SECONDS = 5.0
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 5.0  # for each step of closing: a listener, a subscription, the connection pool
RESYNC = 'resync'
FLUSH = 'flush'
SIGNAL = 'signal'


def redis_location(url: str) -> str:
    """Return host:port/db of a Redis URL, never its password (for logs and readiness answers)."""
    kwargs = parse_url(url)  # type: ignore[no-untyped-call]
    if 'path' in kwargs:
        return f'unix:{kwargs["path"]}'
    return f'{kwargs.get("host", "localhost")}:{kwargs.get("port", 6379)}/{kwargs.get("db", 0)}'


class RedisTransport(Transport):
    """Carries events between the processes of one Vigil installation through Redis pub/sub."""

    def __init__(self, url: str, *, prefix: str = 'vigil', idle_ping_seconds: float = IDLE_PING_SECONDS) -> None:
        self._url = url
        self._where = redis_location(url)
        self._prefix = prefix
        self._idle_ping_seconds = idle_ping_seconds
        self._origin = f'{socket.gethostname()}:{os.getpid()}:{id(self):x}'
        self._client: redis.Redis | None = None
        self._deliver: Deliver | None = None
        self._resync_callbacks: list[Resync] = []
        self._signal_handlers: list[SignalHandler] = []
        self._listener: asyncio.Task[None] | None = None
        self._connected = False
        self._down_since: float | None = None
        self._last_error = ''
        # Set when this process may hold events other processes never got (published while cut off).
        self._missed = False
        self._subscribed_this_round = False
        self._flushes: dict[str, asyncio.Future[None]] = {}
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        """Return whether the subscription is up (events travel through Redis)."""
        return self._connected

    def channel(self, hospital_id: int) -> str:
        """Return the Redis channel of a hospital's events."""
        return f'{self._prefix}:events:{hospital_id}'

    @property
    def control_channel(self) -> str:
        return f'{self._prefix}:control'

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._client = redis.Redis.from_url(
            self._url, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS,
            client_name=f'vigil-{self._prefix}-{os.getpid()}',
            # One immediate retry on a fresh connection: after an outage the pool still holds dead ones. A retried
            # publish that had reached Redis after all arrives twice, and the bus drops the second copy.
            retry=Retry(NoBackoff(), 1), retry_on_error=[RedisConnectionError])
        # NOTE: start() must not wait for Redis: a process whose Redis is down still serves its own pages.
        self._listener = asyncio.get_running_loop().create_task(self._listen_forever(), name='vigil-redis-listener')

    def on_resync(self, callback: Resync) -> None:
        self._resync_callbacks.append(callback)

    def on_signal(self, handler: SignalHandler) -> None:
        self._signal_handlers.append(handler)

    async def signal(self, message: dict[str, Any]) -> None:
        if self._connected and self._client is not None:
            try:
                await self._client.publish(self.control_channel, json.dumps({'type': SIGNAL, 'signal': message}))
                return
            except (RedisError, OSError) as error:
                self._lost(error)
        self._signalled(message)  # Redis is away: at least this process hears it

    async def publish(self, hospital_id: int, payload: str) -> None:
        if self._connected and self._client is not None:
            try:
                await self._client.publish(self.channel(hospital_id), payload)
                return
            except (RedisError, OSError) as error:
                self._lost(error)
        # Redis is unreachable: this process's own pages still get the event; the others resync once it is back.
        self._missed = True
        if self._deliver is not None:
            self._deliver(payload)

    async def flush(self) -> None:
        # Redis pushes messages to a subscriber in the order it executed the PUBLISH commands: once a marker sent
        # after our events comes back, so have they.
        if not self._connected or self._client is None:
            return
        token = uuid.uuid4().hex
        arrived = self._flushes[token] = asyncio.get_running_loop().create_future()
        try:
            await self._client.publish(self.control_channel,
                                       json.dumps({'type': FLUSH, 'origin': self._origin, 'token': token}))
            await asyncio.wait_for(arrived, SOCKET_TIMEOUT_SECONDS * 2)
        except (RedisError, OSError, TimeoutError) as error:
            self._lost(error)
        finally:
            self._flushes.pop(token, None)

    async def problem(self) -> str | None:
        if self._client is None:
            return None if self._listener is None else f'Redis at {self._where}: not started'
        try:
            await asyncio.wait_for(self._client.ping(), SOCKET_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as error:
            return f'Redis at {self._where} unreachable: {describe(error)}'
        if not self._connected:
            return f'Redis at {self._where}: event subscription not connected yet ({self._last_error or "starting"})'
        return None

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await self._bounded(listener, 'the event subscription')
        client, self._client = self._client, None
        if client is not None:
            await self._bounded(asyncio.ensure_future(client.aclose()), 'the Redis connections')
        self._connected = False
        self._deliver = None

    @staticmethod
    async def _bounded(task: 'asyncio.Future[Any]', what: str) -> None:
        """Wait a bounded time for a closing step: a stop must never hang on Redis.

        NOTE: redis-py 8 shields PubSub.aclose from cancellation, so `wait_for` (which waits for the cancelled
        step to finish) could wait forever on a connection that never answers; asyncio.wait returns on time.
        """
        done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_SECONDS)
        if not done:
            log.warning('closing %s took longer than %g s; going on without waiting for it', what,
                        CLOSE_TIMEOUT_SECONDS)
            return
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, RedisError | OSError):
            log.warning('closing %s failed: %r', what, error)

    # --- the subscription ---------------------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while True:
            assert self._client is not None
            pubsub = self._client.pubsub()
            try:
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as error:
                self._lost(error)
            finally:
                await self._bounded(asyncio.ensure_future(pubsub.aclose()), 'a Redis subscription')
            if self._subscribed_this_round:
                delay = RECONNECT_FIRST_SECONDS
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # jitter, not cryptography
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen(self, pubsub: PubSub) -> None:
        self._subscribed_this_round = False
        pattern = f'{self._prefix}:events:*'
        await pubsub.psubscribe(pattern)
        await pubsub.subscribe(self.control_channel)
        confirmations = 0
        last_heard = time.monotonic()
        pinged = False
        while True:
            if self._subscribed_this_round and not self._connected:
                # A publish failed: this connection is suspect too; start over and resync once subscribed again.
                raise ConnectionError(self._last_error or 'publishing to Redis failed')
            message = await pubsub.get_message(timeout=self._idle_ping_seconds)
            now = time.monotonic()
            if message is None:
                if now - last_heard > 2 * self._idle_ping_seconds:
                    raise TimeoutError(f'no answer for {2 * self._idle_ping_seconds:.0f} s')
                if not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            last_heard, pinged = now, False
            kind = message['type']
            if kind in {'psubscribe', 'subscribe'}:
                confirmations += 1
                # NOTE: redis-py re-subscribes by itself after a dropped connection: confirmations beyond the first
                # pair mean that happened underneath us, and events may have been lost in between.
                if confirmations > 2 and confirmations % 2 == 0:
                    self._lost(ConnectionError('the subscription was re-established'))
                if confirmations % 2 == 0:
                    await self._connected_now()
                    self._subscribed_this_round = True
            elif kind == 'pmessage':
                if self._deliver is not None:
                    self._deliver(decode(message['data']))
            elif kind == 'message':
                self._control(decode(message['data']))

    async def _connected_now(self) -> None:
        was_down = self._down_since
        self._connected = True
        self._last_error = ''
        if was_down is None and not self._missed:
            log.info('event bus: connected to Redis at %s (prefix %s)', self._where, self._prefix)
            return
        self._down_since = None
        self.reconnects += 1
        outage = time.monotonic() - was_down if was_down is not None else 0.0
        log.warning('event bus: Redis at %s is back after %.1f s; every page reloads its state from the database',
                    self._where, outage, extra={'event': 'bus.reconnected'})
        self._missed = False
        try:
            # Every process, this one included (through its own subscription), reloads its pages.
            assert self._client is not None
            await self._client.publish(self.control_channel, json.dumps({'type': RESYNC, 'origin': self._origin}))
        except (RedisError, OSError) as error:
            self._lost(error)
            self._resync()

    def _control(self, data: str) -> None:
        try:
            message: Any = json.loads(data)
        except ValueError:
            log.error('event bus: ignoring a control message that is not JSON')
            return
        if not isinstance(message, dict):
            return
        if message.get('type') == RESYNC:
            log.info('event bus: resync requested by %s', message.get('origin', '?'))
            self._resync()
        elif message.get('type') == SIGNAL and isinstance(message.get('signal'), dict):
            self._signalled(message['signal'])
        elif message.get('type') == FLUSH and message.get('origin') == self._origin:
            arrived = self._flushes.get(str(message.get('token')))
            if arrived is not None and not arrived.done():
                arrived.set_result(None)

    def _signalled(self, signal: dict[str, Any]) -> None:
        for handler in list(self._signal_handlers):
            handler(signal)

    def _resync(self) -> None:
        for callback in list(self._resync_callbacks):
            try:
                callback()
            except Exception:
                log.exception('event bus: a resync callback failed')

    def _lost(self, error: BaseException) -> None:
        """Note that Redis went away: one clear log line per outage, not one per failed call."""
        self._last_error = describe(error)
        self._connected = False
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._missed = True
            log.error('event bus: Redis at %s unreachable (%s); serving this process\'s pages from local events '
                      'and reconnecting', self._where, self._last_error, extra={'event': 'bus.disconnected'})


def decode(data: bytes | str) -> str:
    """Return a pub/sub payload as text."""
    return data.decode() if isinstance(data, bytes) else data


def describe(error: BaseException) -> str:
    """Return one short line saying what went wrong with Redis."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
