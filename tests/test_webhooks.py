"""Outbound webhooks against a real receiver on 127.0.0.1, on SQLite and PostgreSQL: signed payloads, filters, the
outbox written with the alert, retries on an injected clock, restarts mid-retry, and two workers delivering once."""

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.bootstrap import Vigil, build
from app.config import Settings
from app.domain import Priority, TokenKind
from app.errors import Conflict, InvalidInput, NotAllowed, NotFound
from app.schemas import Actor, AlertView, NewAlert
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.rules import MAX_ATTEMPTS, RETENTION_DAYS, DeliveryStatus, WebhookEvent, retry_delay
from data.models import EventLogEntry, WebhookDelivery

from .conftest import FakeClock, World
from .webhook_receiver import Receiver, closed_port_url, running_receiver

Factory = Callable[[], Vigil]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def other_process(db_url: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Factory]:
    """Build further Vigils on the same database (own engine, own pool), as another server process would."""
    built: list[Vigil] = []

    def make() -> Vigil:
        built.append(build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock))
        return built[-1]

    yield make
    for each in built:
        await each.close()


@pytest.fixture
async def workers() -> AsyncIterator[Callable[[Vigil], WebhookDispatcher]]:
    made: list[WebhookDispatcher] = []

    def make(vigil: Vigil) -> WebhookDispatcher:
        made.append(WebhookDispatcher(vigil.db, vigil.clock))
        return made[-1]

    yield make
    for each in made:
        await each.stop()


def admin(world: World, side: str = 'a') -> Actor:
    return getattr(world, side).actor('admin')


async def raise_alert(vigil: Vigil, world: World, priority: Priority = Priority.CRITICAL, bed: str = 'North-1',
                      message: str = 'Cardiac arrest') -> AlertView:
    side = world.a if bed in world.a.patient_ids else world.b
    nurse = side.actor('nurse' if bed.startswith(('North', 'East')) else 'nurse2')
    return await vigil.alerts.raise_alert(nurse, NewAlert(priority=priority, message=message,
                                                          patient_id=side.patient_ids[bed]))


def check_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver runs (the README's recipe): HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    expected = hmac.new(secret.encode(), headers['x-vigil-timestamp'].encode() + b'.' + body, hashlib.sha256)
    return hmac.compare_digest('sha256=' + expected.hexdigest(), headers['x-vigil-signature'])


async def outbox(vigil: Vigil) -> list[WebhookDelivery]:
    async with vigil.db.read() as session:
        return list((await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))).all())


# --- what a receiver gets -------------------------------------------------------------------------------------------

async def test_an_alert_reaches_the_receiver_signed_with_the_subscriptions_secret(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    created = await vigil.webhooks.create(admin(world), name='Pager bridge', url=receiver.url)
    assert created.secret.startswith('whsec_') and len(created.secret) > 40
    alert = await raise_alert(vigil, world)
    assert receiver.requests == []  # raising never waits for a receiver: the worker sends it

    outcomes = await workers(vigil).tick()

    assert [o.status for o in outcomes] == [DeliveryStatus.DELIVERED]
    [request] = receiver.requests
    assert request.path == '/hooks/vigil'
    assert request.headers['content-type'] == 'application/json'
    assert request.headers['x-vigil-event'] == 'alert.raised'
    assert request.headers['x-vigil-delivery'] == str(outcomes[0].delivery_id)
    assert request.headers['x-vigil-timestamp'] == str(int(clock().timestamp()))
    assert check_signature(created.secret, request.headers, request.body)
    assert not check_signature(created.secret, request.headers, request.body.replace(b'Cardiac', b'Cardiax'))
    assert not check_signature(created.secret + 'x', request.headers, request.body)
    payload = json.loads(request.body)
    assert payload['version'] == 1 and payload['type'] == 'alert.raised'
    assert payload['hospital'] == {'id': world.a.hospital_id, 'slug': 'alpha', 'name': 'Alpha Hospital'}
    assert payload['alert']['id'] == alert.id and payload['alert']['priority'] == 'critical'
    assert payload['alert']['patient_mrn'] == 'alpha-North-1' and payload['alert']['status'] == 'active'
    assert datetime.fromisoformat(payload['occurred_at']) == clock()
    async with vigil.db.read() as session:  # the same event, under the same number, as the durable event log
        logged = await session.get(EventLogEntry, (world.a.hospital_id, payload['seq']))
    assert logged is not None and logged.payload['event_id'] == payload['id']


async def test_every_transition_goes_out_in_order_and_nothing_twice(
        vigil: Vigil, world: World, receiver: Receiver, workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='ITSM', url=receiver.url)
    alert = await raise_alert(vigil, world)
    await vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id)
    await vigil.alerts.resolve(world.a.actor('nurse'), alert.id)
    worker = workers(vigil)
    await worker.tick()
    await worker.tick()
    types = [json.loads(r.body)['type'] for r in receiver.requests]
    assert sorted(types) == ['alert.acknowledged', 'alert.raised', 'alert.resolved']
    seqs = sorted(json.loads(r.body)['seq'] for r in receiver.requests)
    assert len(set(seqs)) == 3  # receivers order by seq (and the alert's version)


async def test_filters_choose_priority_ward_and_event_type_and_never_another_hospital(
        vigil: Vigil, world: World, receiver: Receiver, workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='North critical raised', url=receiver.url,
                                priorities=[Priority.CRITICAL], wards=[world.a.ward_ids['North']],
                                event_types=[WebhookEvent.RAISED])
    wanted = await raise_alert(vigil, world, Priority.CRITICAL, 'North-1')
    await raise_alert(vigil, world, Priority.LOW, 'North-2', 'Low battery')  # another priority
    await raise_alert(vigil, world, Priority.CRITICAL, 'South-1')  # another ward
    await vigil.alerts.acknowledge(world.a.actor('nurse'), wanted.id)  # another event type
    await raise_alert(vigil, world, Priority.CRITICAL, 'East-1')  # another hospital
    await workers(vigil).tick()
    assert [(json.loads(r.body)['type'], json.loads(r.body)['alert']['id']) for r in receiver.requests] == [
        ('alert.raised', wanted.id)]
    assert len(await outbox(vigil)) == 1  # nothing was even queued for the others


async def test_a_receiver_that_hangs_never_holds_up_raising_or_acknowledging_alerts(
        vigil: Vigil, world: World, receiver: Receiver, workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='Slow pager', url=receiver.url)
    first = await raise_alert(vigil, world, bed='North-1')
    receiver.hold()
    sending = asyncio.create_task(workers(vigil).tick())
    # The worker's attempt reaches the receiver, which does not answer.
    assert await asyncio.to_thread(receiver.arrived.wait, 30)
    second = await raise_alert(vigil, world, bed='North-2')
    acknowledged = await vigil.alerts.acknowledge(world.a.actor('nurse'), first.id)
    assert acknowledged.status.value == 'acknowledged' and not sending.done()
    assert [d.status for d in await outbox(vigil)] == [DeliveryStatus.PENDING] * 3  # queued with their alerts
    receiver.release()
    assert [o.status for o in await sending] == [DeliveryStatus.DELIVERED]
    assert second.id != first.id


async def test_a_commit_that_fails_leaves_no_delivery_behind(vigil: Vigil, world: World, receiver: Receiver) -> None:
    await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    with pytest.raises(NotFound):  # the alert is refused: a patient of another hospital
        await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
            priority=Priority.CRITICAL, message='x', patient_id=world.b.patient_ids['East-1']))
    assert await outbox(vigil) == []


# --- retries on an injected clock -----------------------------------------------------------------------------------

async def test_failures_are_retried_with_exponential_backoff_and_every_attempt_recorded(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    hook = await vigil.webhooks.create(admin(world), name='Flaky', url=receiver.url)
    await raise_alert(vigil, world)
    receiver.answer(500, 503)
    worker = workers(vigil)

    assert [o.status_code for o in await worker.tick()] == [500]
    clock.advance(seconds=retry_delay(1).total_seconds() - 1)
    assert await worker.tick() == []  # not yet
    clock.advance(seconds=1)
    assert [o.status_code for o in await worker.tick()] == [503]
    clock.advance(seconds=retry_delay(2).total_seconds() - 1)
    assert await worker.tick() == []
    clock.advance(seconds=1)
    assert [o.status for o in await worker.tick()] == [DeliveryStatus.DELIVERED]
    assert await worker.tick() == []

    [delivery] = await vigil.webhooks.deliveries(admin(world), hook.id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert [(a.number, a.status_code) for a in delivery.history] == [(3, 200), (2, 503), (1, 500)]
    assert [a.error for a in delivery.history] == [
        None, 'HTTP 503 Service Unavailable', 'HTTP 500 Internal Server Error']
    assert len({r.headers['x-vigil-signature'] for r in receiver.requests}) == 3  # signed at each attempt's time
    assert len({r.body for r in receiver.requests}) == 1  # the same message each time
    assert [d.total_seconds() for d in map(retry_delay, range(1, 11))] == [
        10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]


async def test_an_unreachable_receiver_is_given_up_after_the_last_attempt_and_an_admin_can_retry_it(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    hook = await vigil.webhooks.create(admin(world), name='Gone', url=closed_port_url())
    await raise_alert(vigil, world)
    worker = workers(vigil)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [outcome] = await worker.tick()
        assert outcome.status is (DeliveryStatus.FAILED if attempt == MAX_ATTEMPTS else DeliveryStatus.PENDING)
        assert outcome.error is not None and outcome.error.startswith('could not connect')
        clock.advance(seconds=retry_delay(attempt).total_seconds())
    clock.advance(days=1)
    assert await worker.tick() == []  # given up: nothing more by itself
    [failed] = await vigil.webhooks.deliveries(admin(world), hook.id, status=DeliveryStatus.FAILED)
    assert failed.attempts == MAX_ATTEMPTS and failed.next_attempt_at is None
    assert (await vigil.webhooks.get(admin(world), hook.id)).failed == 1

    with pytest.raises(NotAllowed):
        await vigil.webhooks.retry(world.a.actor('charge'), failed.id)
    with pytest.raises(NotFound):  # another hospital's administrator does not see it
        await vigil.webhooks.retry(admin(world, 'b'), failed.id)
    # The receiver is back (the administrator fixed the URL by making a new webhook would lose it: retry instead).
    async with vigil.db.uow() as uow:
        from data.models import WebhookSubscription

        row = await uow.session.get(WebhookSubscription, hook.id)
        assert row is not None
        row.url = receiver.url
        await uow.commit()
    retried = await vigil.webhooks.retry(admin(world), failed.id)
    assert retried.status is DeliveryStatus.PENDING
    with pytest.raises(Conflict):
        await vigil.webhooks.retry(admin(world), failed.id)  # pending, not failed
    assert [o.status for o in await worker.tick()] == [DeliveryStatus.DELIVERED]
    assert len(receiver.requests) == 1
    [done] = await vigil.webhooks.deliveries(admin(world), hook.id)
    assert done.attempts == MAX_ATTEMPTS + 1 and done.history[0].status_code == 200


async def test_a_restart_mid_retry_sends_the_delivery_when_its_time_comes(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver, other_process: Factory,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    await raise_alert(vigil, world)
    receiver.answer(502)
    first = workers(vigil)
    assert [o.status_code for o in await first.tick()] == [502]
    await first.stop()
    await vigil.close()  # the process ends while the delivery waits for its retry

    restarted = other_process()
    worker = workers(restarted)
    assert await worker.tick() == []  # waits for its time, also after a restart
    clock.advance(seconds=retry_delay(1).total_seconds())
    assert [o.status for o in await worker.tick()] == [DeliveryStatus.DELIVERED]
    assert [r.headers['x-vigil-delivery'] for r in receiver.requests] == [receiver.requests[0].headers[
        'x-vigil-delivery']] * 2
    assert [d.status for d in await outbox(restarted)] == [DeliveryStatus.DELIVERED]


async def test_a_claim_left_by_a_process_that_died_mid_attempt_lapses_and_the_delivery_is_sent(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver, other_process: Factory,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    await raise_alert(vigil, world)
    [delivery] = await outbox(vigil)
    dead = workers(vigil)
    assert await dead._claim(delivery.id, 0, clock()) is not None  # claimed, then the process died
    await vigil.close()
    worker = workers(other_process())
    assert await worker.tick() == []  # the claim holds for its time
    clock.advance(minutes=1)
    assert [o.status for o in await worker.tick()] == [DeliveryStatus.DELIVERED]
    assert len(receiver.requests) == 1


async def test_two_processes_deliver_each_event_once(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver, other_process: Factory,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    await vigil.webhooks.create(admin(world), name='Teams', url=receiver.url + '/teams')
    for bed in ('North-1', 'North-2', 'South-1', 'South-2'):
        alert = await raise_alert(vigil, world, Priority.HIGH, bed)
        await vigil.alerts.acknowledge(admin(world), alert.id)
    receiver.answer(*[500] * 3)  # a few fail and are retried by whichever process comes first
    one, two = workers(vigil), workers(other_process())
    for _ in range(3):
        await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
        clock.advance(seconds=retry_delay(1).total_seconds())
    delivered = [(r.path, json.loads(r.body)['id']) for r in receiver.requests if r is not None]
    assert len(await outbox(vigil)) == 16
    assert [d.status for d in await outbox(vigil)] == [DeliveryStatus.DELIVERED] * 16
    successful = len(receiver.requests) - 3
    assert successful == 16 and len(set(delivered)) == 16  # each event once per subscription, the 3 retries aside
    async with vigil.db.read() as session:
        from data.models import WebhookAttempt

        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 19


# --- subscriptions: who, what, and what happens to pending deliveries -----------------------------------------------

async def test_a_disabled_webhook_queues_nothing_new_and_its_pending_deliveries_wait_until_enabled(
        vigil: Vigil, world: World, receiver: Receiver, workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    hook = await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    await raise_alert(vigil, world, bed='North-1')
    paused = await vigil.webhooks.set_enabled(admin(world), hook.id, False)
    assert not paused.enabled and paused.pending == 1
    await raise_alert(vigil, world, bed='North-2')  # not queued while disabled
    worker = workers(vigil)
    assert await worker.tick() == []
    await vigil.webhooks.set_enabled(admin(world), hook.id, True)
    assert len(await worker.tick()) == 1
    assert [json.loads(r.body)['alert']['bed'] for r in receiver.requests] == ['North-1']


async def test_deleting_a_webhook_drops_its_pending_deliveries_and_history(
        vigil: Vigil, world: World, receiver: Receiver, workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    hook = await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    keep = await vigil.webhooks.create(admin(world), name='Keep', url=receiver.url + '/keep')
    await raise_alert(vigil, world)
    await vigil.webhooks.delete(admin(world), hook.id)
    assert [d.subscription_id for d in await outbox(vigil)] == [keep.id]
    await workers(vigil).tick()
    assert [r.path for r in receiver.requests] == ['/hooks/vigil/keep']
    with pytest.raises(NotFound):
        await vigil.webhooks.get(admin(world), hook.id)
    changes = [c.change for c in await vigil.rules.history(admin(world), limit=10)]
    assert any(c.startswith('webhook "Pager" deleted') for c in changes)
    assert any(c.startswith('webhook "Pager" created') for c in changes)


async def test_only_administrators_and_integrations_manage_webhooks_of_their_own_hospital(
        vigil: Vigil, world: World, receiver: Receiver) -> None:
    for who in ('nurse', 'charge', 'doctor'):
        with pytest.raises(NotAllowed):
            await vigil.webhooks.create(world.a.actor(who), name='x', url=receiver.url)
        with pytest.raises(NotAllowed):
            await vigil.webhooks.subscriptions(world.a.actor(who))
    device = await vigil.tokens.verify((await vigil.tokens.create(
        hospital_slug='alpha', kind=TokenKind.DEVICE, name='monitor')).secret)
    with pytest.raises(NotAllowed):
        await vigil.webhooks.subscriptions(device)
    integration = await vigil.tokens.verify((await vigil.tokens.create(
        hospital_slug='alpha', kind=TokenKind.INTEGRATION, name='itsm')).secret)
    with pytest.raises(InvalidInput):  # an integration names the administrator it acts for
        await vigil.webhooks.create(integration, name='x', url=receiver.url)
    made = await vigil.webhooks.create(integration, name='x', url=receiver.url, on_behalf_of='Dr Jane Roe')
    assert made.created_by == 'Dr Jane Roe (via token:itsm)'
    assert await vigil.webhooks.subscriptions(admin(world, 'b')) == []
    with pytest.raises(NotFound):
        await vigil.webhooks.set_enabled(admin(world, 'b'), made.id, False)
    with pytest.raises(NotFound):
        await vigil.webhooks.delete(admin(world, 'b'), made.id)
    listed = await vigil.webhooks.subscriptions(admin(world))
    assert [w.name for w in listed] == ['x'] and listed[0].secret_hint == made.secret[:10] + '…'
    assert 'secret' not in listed[0].model_dump()


@pytest.mark.parametrize(('url', 'reason'), [
    ('ftp://example.org/hook', 'http:// or https://'),
    ('file:///etc/passwd', 'http:// or https://'),
    ('https://user:pass@example.org/hook', 'user name or password'),
    ('https://token@example.org/hook', 'user name or password'),
    ('https:///nohost', 'name a host'),
    ('https://example.org:99999/', 'not valid'),
    ('https://example.org/a#b', 'fragment'),
    ('https://example.org/a b', 'spaces'),
    ('https://example.org/\nX-Injected: 1', 'one line'),
    ('', '1-2000'),
    ('https://example.org/' + 'a' * 2000, '1-2000'),
])
async def test_a_bad_url_is_refused_and_creates_nothing(vigil: Vigil, world: World, url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await vigil.webhooks.create(admin(world), name='Bad', url=url)
    assert await vigil.webhooks.subscriptions(admin(world)) == []


async def test_bad_filters_and_names_are_refused_and_create_nothing(
        vigil: Vigil, world: World, receiver: Receiver) -> None:
    bad: list[tuple[dict[str, object], str]] = [
        ({'priorities': []}, 'empty list'), ({'priorities': ['urgent']}, 'priorities are'),
        ({'priorities': ['high', 'high']}, 'each value once'), ({'event_types': ['alert.deleted']}, 'event types'),
        ({'wards': [world.b.ward_ids['East']]}, 'No ward'), ({'wards': [True]}, 'whole numbers'),
        ({'name': '  '}, 'name of 1-100'), ({'name': 'a\nb'}, 'one line'), ({'name': 'x' * 101}, 'name of 1-100'),
    ]
    for change, reason in bad:
        arguments: dict[str, object] = {'name': 'Hook', 'url': receiver.url, **change}
        with pytest.raises(InvalidInput, match=reason):
            await vigil.webhooks.create(admin(world), **arguments)  # type: ignore[arg-type]
    assert await vigil.webhooks.subscriptions(admin(world)) == []
    await vigil.webhooks.create(admin(world), name='Hook', url=receiver.url)
    with pytest.raises(Conflict):
        await vigil.webhooks.create(admin(world), name='Hook', url=receiver.url)


async def test_finished_deliveries_are_deleted_after_the_retention_period_and_waiting_ones_never(
        vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver,
        workers: Callable[[Vigil], WebhookDispatcher]) -> None:
    hook = await vigil.webhooks.create(admin(world), name='Pager', url=receiver.url)
    await raise_alert(vigil, world, bed='North-1')
    worker = workers(vigil)
    await worker.tick()  # delivered
    paused = await vigil.webhooks.create(admin(world), name='Paused', url=receiver.url, enabled=True)
    await raise_alert(vigil, world, bed='North-2')
    await vigil.webhooks.set_enabled(admin(world), paused.id, False)
    await vigil.webhooks.set_enabled(admin(world), hook.id, False)  # North-2's deliveries wait, for both
    clock.advance(days=RETENTION_DAYS, seconds=-1)
    assert await worker.prune() == 0
    clock.advance(seconds=2)
    assert await worker.prune() == 1
    assert sorted((d.subscription_id, d.status) for d in await outbox(vigil)) == [
        (hook.id, DeliveryStatus.PENDING), (paused.id, DeliveryStatus.PENDING)]
    async with vigil.db.read() as session:
        from data.models import WebhookAttempt

        assert await session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0
