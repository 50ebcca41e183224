"""The Redis transport between processes: every process hears every event once, its own included; an outage keeps
each process serving its own pages, logs one line, and ends with every process told to resync.

Each "process" here is an EventBus with a RedisTransport of its own (its own connections to the real Redis server);
the network between one of them and Redis runs through a relay the test can cut.
"""

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from app.events import Event, EventBus
from app.events.redis_transport import RedisTransport, redis_location

from .conftest import REDIS_URL
from .redis_proxy import RedisProxy
from .test_events import GUARD_SECONDS, connected, raised, seqs

pytestmark = pytest.mark.redis


class Process:
    """One Vigil process's view of the bus: what its subscribers received and how often it was told to resync."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self.transport = RedisTransport(url, prefix=prefix, idle_ping_seconds=0.5)
        self.bus = EventBus(self.transport)
        self.received: list[Event] = []
        self.resyncs = 0
        self.bus.subscribe(self.received.append, name=name)
        self.bus.on_resync(self._resynced)

    def _resynced(self) -> None:
        self.resyncs += 1

    async def start(self) -> 'Process':
        await self.bus.start()
        return self


@pytest.fixture
def proxy() -> Iterator[RedisProxy]:
    relay = RedisProxy(REDIS_URL).start()
    yield relay
    relay.stop()


@pytest.fixture
async def processes(redis_prefix: str, proxy: RedisProxy) -> AsyncIterator[tuple[Process, Process]]:
    """Process A reaches Redis through the relay, process B directly; both of one installation (one prefix)."""
    a = await Process(proxy.url, redis_prefix, 'a').start()
    b = await Process(REDIS_URL, redis_prefix, 'b').start()
    await connected(a.bus)
    await connected(b.bus)
    yield a, b
    await a.bus.close()
    await b.bus.close()


async def until(condition: object, what: str) -> None:
    """Wait for a condition that a background task (the Redis listener) brings about."""
    async with asyncio.timeout(GUARD_SECONDS):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 (state of another task, polled)
            await asyncio.sleep(0.02)


async def test_every_process_hears_every_event_once_its_own_included(processes: tuple[Process, Process]) -> None:
    a, b = processes
    await a.bus.publish(raised(1))
    await b.bus.publish(raised(2))
    await a.bus.publish(raised(3, hospital_id=2))
    await a.bus.flush()
    await b.bus.flush()
    await a.bus.drain()
    await b.bus.drain()

    for process in (a, b):
        assert sorted((e.hospital_id, e.seq) for e in process.received) == [(1, 1), (1, 2), (2, 3)]
    assert a.bus.duplicates == b.bus.duplicates == 0


async def test_a_signal_reaches_every_process_once_and_this_one_during_an_outage(
        processes: tuple[Process, Process], proxy: RedisProxy) -> None:
    a, b = processes
    heard_a: list[dict[str, object]] = []
    heard_b: list[dict[str, object]] = []
    a.bus.on_signal(heard_a.append)
    b.bus.on_signal(heard_b.append)
    await b.bus.signal('signed_out', hospital_id=1, user_id=3)
    await a.bus.flush()
    await b.bus.flush()
    assert heard_a == heard_b == [{'kind': 'signed_out', 'hospital_id': 1, 'user_id': 3}]

    proxy.cut()
    await until(lambda: not a.transport.connected, 'A notices the cut')
    await a.bus.signal('signed_out', hospital_id=1, user_id=4)
    assert heard_a[-1] == {'kind': 'signed_out', 'hospital_id': 1, 'user_id': 4}
    assert len(heard_b) == 1


async def test_events_travel_as_json_on_one_channel_per_hospital(redis_prefix: str) -> None:
    """What an operator sees with `redis-cli psubscribe '<prefix>:events:*'`."""
    client = redis.Redis.from_url(REDIS_URL)
    listener = client.pubsub()
    await listener.psubscribe(f'{redis_prefix}:events:*')
    process = await Process(REDIS_URL, redis_prefix, 'p').start()
    try:
        await connected(process.bus)
        event = raised(5, hospital_id=3)
        await process.bus.publish(event)
        async with asyncio.timeout(GUARD_SECONDS):
            while (message := await listener.get_message(ignore_subscribe_messages=True, timeout=1)) is None:
                pass
        assert message['channel'] == f'{redis_prefix}:events:3'.encode()
        payload = json.loads(message['data'])
        assert payload['type'] == 'AlertRaised'
        assert (payload['hospital_id'], payload['seq'], payload['event_id']) == (3, 5, str(event.event_id))
    finally:
        await process.bus.close()
        await listener.aclose()
        await client.aclose()


async def test_installations_with_different_prefixes_never_hear_each_other(redis_prefix: str) -> None:
    ours = await Process(REDIS_URL, redis_prefix, 'ours').start()
    theirs = await Process(REDIS_URL, f'{redis_prefix}-other', 'theirs').start()
    try:
        await connected(ours.bus)
        await connected(theirs.bus)
        await theirs.bus.publish(raised(1))
        await ours.bus.publish(raised(2))
        await theirs.bus.drain()
        await ours.bus.drain()
        assert seqs(ours.received) == [2]
        assert seqs(theirs.received) == [1]
    finally:
        await ours.bus.close()
        await theirs.bus.close()


async def test_an_outage_keeps_local_delivery_logs_once_and_ends_with_everyone_resynced(
        processes: tuple[Process, Process], proxy: RedisProxy, caplog: pytest.LogCaptureFixture) -> None:
    a, b = processes
    await a.bus.publish(raised(1))
    await a.bus.drain()
    await b.bus.drain()
    assert seqs(a.received) == seqs(b.received) == [1]

    proxy.cut()
    await until(lambda: not a.transport.connected, 'A notices the cut')
    problem = await a.bus.problem()
    assert problem is not None and 'unreachable' in problem and str(proxy.port) in problem
    for seq in (2, 3, 4):  # written while cut off: A's own pages still see them at once
        await a.bus.publish(raised(seq))
    await a.bus.drain()
    assert seqs(a.received) == [1, 2, 3, 4]
    assert seqs(b.received) == [1]  # B never got them: it must reload from the database later
    assert a.resyncs == b.resyncs == 0
    outage_lines = [r for r in caplog.records if r.levelno == logging.ERROR and 'unreachable' in r.message]
    assert len(outage_lines) == 1, [r.message for r in outage_lines]
    assert 'serving this process' in outage_lines[0].message

    proxy.restore()
    await until(lambda: a.resyncs >= 1 and b.resyncs >= 1, 'both processes are told to resync')
    assert await a.bus.problem() is None
    assert a.transport.reconnects == 1
    assert [r.message for r in caplog.records if 'is back after' in r.message]

    await b.bus.publish(raised(5))
    await a.bus.publish(raised(6))
    await a.bus.drain()
    await b.bus.drain()
    assert seqs(a.received) == [1, 2, 3, 4, 5, 6]  # once each: nothing delivered both locally and via Redis
    assert seqs(b.received) == [1, 5, 6]
    assert a.resyncs == b.resyncs == 1


async def test_a_process_that_starts_while_redis_is_away_serves_locally_and_joins_later(
        redis_prefix: str, proxy: RedisProxy, caplog: pytest.LogCaptureFixture) -> None:
    proxy.cut()
    late = Process(proxy.url, redis_prefix, 'late')
    other = await Process(REDIS_URL, redis_prefix, 'other').start()
    try:
        async with asyncio.timeout(GUARD_SECONDS):
            await late.start()  # returns at once: no waiting for Redis
        await connected(other.bus)
        await late.bus.publish(raised(1))
        await late.bus.drain()
        assert seqs(late.received) == [1]
        assert await late.bus.problem() is not None

        proxy.restore()
        await until(lambda: late.transport.connected and other.resyncs == 1, 'the late process joins')
        await other.bus.publish(raised(2))
        await other.bus.drain()
        await late.bus.drain()
        assert seqs(late.received) == [1, 2]
    finally:
        await late.bus.close()
        await other.bus.close()


async def test_dropped_subscriptions_are_noticed_and_resynced(processes: tuple[Process, Process],
                                                              redis_prefix: str) -> None:
    """Redis (or an operator's `CLIENT KILL`) drops the subscriber connections: processes resubscribe and resync."""
    a, b = processes
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        name = f'vigil-{redis_prefix}-{os.getpid()}'
        subscribers = [c for c in await admin.client_list() if c.get('name') == name and int(c.get('psub', 0)) > 0]
        assert len(subscribers) == 2
        for client in subscribers:
            await admin.client_kill_filter(_id=client['id'])
        await until(lambda: a.resyncs >= 1 and b.resyncs >= 1, 'both resubscribe and resync')
        await until(lambda: a.transport.connected and b.transport.connected, 'both are subscribed again')
        await a.bus.publish(raised(1))
        await a.bus.drain()
        await b.bus.drain()
        assert seqs(a.received) == seqs(b.received) == [1]
    finally:
        await admin.aclose()


def test_logs_and_answers_never_show_the_redis_password() -> None:
    assert redis_location('redis://:s3cret@db.example:6380/2') == 'db.example:6380/2'
    assert redis_location('redis://vigil:s3cret@db.example/0') == 'db.example:6379/0'
    assert 's3cret' not in redis_location('rediss://vigil:s3cret@db.example:6390/1')
